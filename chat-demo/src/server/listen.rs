//! How a chat server is reached: the line port and, with [`Options`], the web port, each plain
//! or TLS. Either way the session gets a [`Connection`], and does not know which it is.

use super::connection::Connection;
use greenhub::net::{TcpListener, TcpStream};
use greenhub::tls::{TlsAcceptor, TlsStream};
use greenhub::StreamServer;
use std::net::SocketAddr;
use std::sync::Arc;

/// How a chat server is reached besides its line port, for
/// [`ChatServer::bind_with`](super::ChatServer::bind_with) and
/// [`ChatServer::from_listener_with`](super::ChatServer::from_listener_with): TLS on both
/// ports, and the web port.
///
/// # Examples
///
/// ```no_run
/// use chat_demo::server::{ChatServer, Config, Options};
/// greenhub::run(|| -> std::io::Result<()> {
///     let web = greenhub::net::TcpListener::bind("127.0.0.1:8080")?;
///     let options = Options { web: Some(web), ..Options::default() };
///     let server = ChatServer::bind_with("127.0.0.1:7878", Config::default(), options)?;
///     println!("open http://{}", server.web_addr().unwrap());
///     # Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Default)]
pub struct Options {
    /// Both ports speak TLS with this acceptor (see [`crate::certs`]).
    pub tls: Option<TlsAcceptor>,
    /// Serves the page at `/` and the WebSocket at `/ws` on this listener.
    pub web: Option<TcpListener>,
}

/// A connection handler, given to each `StreamServer`.
pub(super) type Handler = Arc<dyn Fn(Connection, SocketAddr) + Send + Sync>;

/// A `StreamServer` on `listener` that hands `handler` plain or TLS connections.
pub(super) fn stream_server(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: Handler,
) -> StreamServer {
    match tls {
        None => StreamServer::from_listener(listener, move |tcp: TcpStream, peer| {
            handler(Connection::Plain(tcp), peer)
        }),
        Some(acceptor) => {
            StreamServer::from_listener_tls(listener, acceptor, move |tls: TlsStream, peer| {
                handler(Connection::Tls(Box::new(tls)), peer)
            })
        }
    }
}
