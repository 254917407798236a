//! A TLS `StreamServer`: each client's handshake runs in that client's green thread, under a
//! deadline, before the handler gets the stream. A client that stalls mid-handshake holds up
//! only its own green thread, and only until the deadline; the acceptor never waits for it.

use super::StreamServer;
use crate::io::source::AtomicTimeout;
use crate::net::{TcpListener, TcpStream, ToSocketAddrs};
use crate::tls::{TlsAcceptor, TlsStream};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a client has to finish its handshake unless
/// [`handshake_timeout`](StreamServer::handshake_timeout) says otherwise.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl StreamServer {
    /// Binds `addr` (see [`TcpListener::bind`]) and prepares a TLS server: each client's
    /// handshake runs in the client's own green thread, with `acceptor`, and `handler(stream,
    /// peer)` gets the [`TlsStream`] once it is done. A client that has not finished its
    /// handshake at the deadline ([`handshake_timeout`](Self::handshake_timeout), 10 s unless
    /// set), or whose handshake fails, is dropped (logged at debug level) and its handler never
    /// runs. Everything else is as for [`bind`](Self::bind).
    ///
    /// The TCP connection is closed when the handler returns; to end it with a TLS
    /// `close_notify`, so the client's reads end cleanly, call
    /// [`TlsStream::shutdown`] first.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::net::TcpStream;
    /// use greenhub::tls::rustls::{self, pki_types::PrivateKeyDer};
    /// use greenhub::tls::{TlsAcceptor, TlsConnector};
    /// use std::io::{BufRead, BufReader, Write};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// greenhub::run(|| -> std::io::Result<()> {
    ///     let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    ///     let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    ///     let config = rustls::ServerConfig::builder()
    ///         .with_no_client_auth()
    ///         .with_single_cert(vec![made.cert.der().clone()], key)
    ///         .unwrap();
    ///     let acceptor = TlsAcceptor::new(Arc::new(config));
    ///     let server = greenhub::StreamServer::bind_tls("127.0.0.1:0", acceptor, |stream, _peer| {
    ///         for line in BufReader::new(&stream).lines().map_while(Result::ok) {
    ///             let _ = writeln!(&stream, "echo: {line}");
    ///             let _ = (&stream).flush();
    ///         }
    ///     })?
    ///     .handshake_timeout(Duration::from_secs(5))
    ///     .start()?;
    ///
    ///     let mut roots = rustls::RootCertStore::empty();
    ///     roots.add(made.cert.der().clone()).unwrap();
    ///     let config = rustls::ClientConfig::builder()
    ///         .with_root_certificates(roots)
    ///         .with_no_client_auth();
    ///     let tcp = TcpStream::connect(server.local_addr())?;
    ///     let mut client = TlsConnector::new(Arc::new(config)).connect("localhost", tcp)?;
    ///     writeln!(client, "hi")?;
    ///     client.flush()?;
    ///     let mut reply = String::new();
    ///     BufReader::new(&client).read_line(&mut reply)?;
    ///     assert_eq!(reply, "echo: hi\n");
    ///     server.stop(Duration::from_millis(100));
    ///     Ok(())
    /// })
    /// # .unwrap();
    /// ```
    pub fn bind_tls<A, H>(addr: A, acceptor: TlsAcceptor, handler: H) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        H: Fn(TlsStream, SocketAddr) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        let bound_to = Some(listener.local_addr()?);
        Ok(StreamServer {
            bound_to,
            ..StreamServer::from_listener_tls(listener, acceptor, handler)
        })
    }

    /// Prepares a TLS server (see [`bind_tls`](Self::bind_tls)) on a listener bound
    /// elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::net::TcpListener;
    /// use greenhub::tls::TlsAcceptor;
    /// use greenhub::StreamServer;
    /// use std::io::Write;
    ///
    /// fn hello_server(listener: TcpListener, acceptor: TlsAcceptor) -> StreamServer {
    ///     StreamServer::from_listener_tls(listener, acceptor, |mut stream, _peer| {
    ///         let _ = stream.write_all(b"hello\n").and_then(|()| stream.flush());
    ///     })
    /// }
    /// ```
    pub fn from_listener_tls<H>(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        handler: H,
    ) -> StreamServer
    where
        H: Fn(TlsStream, SocketAddr) + Send + Sync + 'static,
    {
        let limit = Arc::new(AtomicTimeout::default());
        set_limit(&limit, DEFAULT_HANDSHAKE_TIMEOUT);
        let handshake_limit = limit.clone();
        // The server's handler for plain connections, run in the connection's green thread:
        // handshake first, then the TLS handler.
        let serve = move |tcp: TcpStream, peer: SocketAddr| {
            let accepted = match handshake_limit.get() {
                Some(limit) => crate::timeout(limit, || acceptor.accept(tcp))
                    .unwrap_or_else(|elapsed| Err(elapsed.into())),
                None => acceptor.accept(tcp),
            };
            match accepted {
                Ok(stream) => handler(stream, peer),
                // A client's failure, not the server's: no louder than debug.
                Err(err) => log::debug!("greenhub StreamServer: TLS handshake with {peer}: {err}"),
            }
        };
        StreamServer {
            handshake_timeout: limit,
            ..StreamServer::from_listener(listener, serve)
        }
    }

    /// How long a TLS server's clients have to finish their handshake (10 s unless set),
    /// counted from the moment their green thread starts; at the deadline the connection is
    /// closed. Servers made with [`bind`](Self::bind) have no handshake and ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::net::TcpListener;
    /// use greenhub::tls::TlsAcceptor;
    /// use greenhub::StreamServer;
    /// use std::time::Duration;
    ///
    /// fn impatient(listener: TcpListener, acceptor: TlsAcceptor) -> StreamServer {
    ///     StreamServer::from_listener_tls(listener, acceptor, |_stream, _peer| ())
    ///         .handshake_timeout(Duration::from_secs(2))
    /// }
    /// ```
    pub fn handshake_timeout(self, timeout: Duration) -> StreamServer {
        set_limit(&self.handshake_timeout, timeout);
        self
    }
}

fn set_limit(limit: &AtomicTimeout, timeout: Duration) {
    // Never zero, which `AtomicTimeout` refuses (as std does for socket timeouts): a nanosecond
    // drops every client as surely.
    let _ = limit.set(Some(timeout.max(Duration::from_nanos(1))));
}
