//! TLS over greenhub's TCP streams, on [rustls] (feature `tls`).
//!
//! [`TlsConnector`] (the client side, from a rustls `ClientConfig`) and [`TlsAcceptor`] (the
//! server side, from a `ServerConfig`) run the handshake over a [`TcpStream`] and give a
//! [`TlsStream`], which implements `Read` and `Write` for itself and for `&TlsStream`: one
//! green thread may read while another writes. The handshake parks like any socket call: it
//! honours the stream's read and write timeouts and `greenhub::timeout` scopes.
//! [`StreamServer::bind_tls`](crate::StreamServer::bind_tls) runs the handshake of each client
//! in that client's green thread, under a deadline.
//!
//! The crypto provider is *ring*, which builds with the C compiler a Rust toolchain on Linux
//! already uses for linking (rustls's default, aws-lc-rs, also needs cmake). rustls is
//! re-exported as [`rustls`](mod@rustls), so configurations need no dependency of their own
//! (they must not turn on a second provider: `ClientConfig::builder()` would then panic,
//! not knowing which to use).
//!
//! # Examples
//!
//! A client that checks the server's certificate against the roots it was given:
//!
//! ```no_run
//! use greenhub::net::TcpStream;
//! use greenhub::tls::{rustls, TlsConnector};
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//!
//! greenhub::run(|| -> std::io::Result<()> {
//!     let ca = std::fs::read("ca.der")?; // the certificate of the authority you trust
//!     let mut roots = rustls::RootCertStore::empty();
//!     roots.add(ca.into()).map_err(std::io::Error::other)?;
//!     let config = rustls::ClientConfig::builder()
//!         .with_root_certificates(roots)
//!         .with_no_client_auth();
//!     let connector = TlsConnector::new(Arc::new(config));
//!     let mut stream = connector.connect("example.test", TcpStream::connect("example.test:443")?)?;
//!     stream.write_all(b"GET / HTTP/1.0\r\nHost: example.test\r\n\r\n")?;
//!     stream.flush()?;
//!     let mut page = Vec::new();
//!     stream.read_to_end(&mut page)?;
//!     Ok(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod session;
mod stream;

pub use rustls;
pub use stream::TlsStream;

use crate::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use session::{tls_error, Session};
use std::io;
use std::sync::Arc;

/// The client side of TLS: makes a [`TlsStream`] from a connected [`TcpStream`] with a rustls
/// `ClientConfig` (which says whom to trust). Cheap to clone.
///
/// # Examples
///
/// ```
/// use greenhub::tls::{rustls, TlsConnector};
/// use std::sync::Arc;
///
/// let roots = rustls::RootCertStore::empty(); // add the certificates you trust
/// let config = rustls::ClientConfig::builder()
///     .with_root_certificates(roots)
///     .with_no_client_auth();
/// let connector = TlsConnector::new(Arc::new(config));
/// # drop(connector);
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// A connector with this configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::tls::{rustls, TlsConnector};
    /// use std::sync::Arc;
    ///
    /// let config = rustls::ClientConfig::builder()
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let connector = TlsConnector::new(Arc::new(config));
    /// let same_config = connector.clone();
    /// # drop(same_config);
    /// ```
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }

    /// Runs the client's handshake over `tcp`, checking that the server's certificate is valid
    /// for `server_name` (a DNS name or an IP address, also sent as SNI). Parks like any socket
    /// call: `tcp`'s timeouts and the `timeout` scopes around the call apply.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a name that is no DNS name or IP address; `InvalidData` when TLS
    /// refuses (a certificate that is not trusted or not for `server_name`, an alert from the
    /// server), with the `rustls::Error` inside; `UnexpectedEof` when the server hangs up;
    /// `TimedOut` past a timeout of `tcp`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::net::{TcpListener, TcpStream};
    /// use greenhub::tls::{rustls, TlsConnector};
    /// use std::sync::Arc;
    ///
    /// greenhub::run(|| -> std::io::Result<()> {
    ///     // A server that speaks no TLS: the handshake fails instead of hanging.
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let tcp = TcpStream::connect(listener.local_addr()?)?;
    ///     drop(listener.accept()?);
    ///     let config = rustls::ClientConfig::builder()
    ///         .with_root_certificates(rustls::RootCertStore::empty())
    ///         .with_no_client_auth();
    ///     let err = TlsConnector::new(Arc::new(config)).connect("localhost", tcp).unwrap_err();
    ///     assert!(matches!(
    ///         err.kind(),
    ///         std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
    ///     ));
    ///     Ok(())
    /// })
    /// # .unwrap();
    /// ```
    pub fn connect(&self, server_name: &str, tcp: TcpStream) -> io::Result<TlsStream> {
        let name = ServerName::try_from(server_name.to_owned()).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{server_name:?} is not a DNS name or an IP address: {err}"),
            )
        })?;
        let connection = ClientConnection::new(self.config.clone(), name).map_err(tls_error)?;
        TlsStream::handshake(tcp, Session::new(connection.into()))
    }
}

/// The server side of TLS: makes a [`TlsStream`] from an accepted [`TcpStream`] with a rustls
/// `ServerConfig` (which holds the server's certificate and key). Cheap to clone.
///
/// # Examples
///
/// ```
/// use greenhub::tls::rustls::{self, pki_types::PrivateKeyDer};
/// use greenhub::tls::TlsAcceptor;
/// use std::sync::Arc;
///
/// let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
/// let config = rustls::ServerConfig::builder()
///     .with_no_client_auth()
///     .with_single_cert(vec![made.cert.der().clone()], key)
///     .unwrap();
/// let acceptor = TlsAcceptor::new(Arc::new(config));
/// # drop(acceptor);
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    /// An acceptor with this configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::tls::rustls::{self, pki_types::PrivateKeyDer};
    /// use greenhub::tls::TlsAcceptor;
    /// use std::sync::Arc;
    ///
    /// let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    /// let mut config = rustls::ServerConfig::builder()
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![made.cert.der().clone()], key)
    ///     .unwrap();
    /// config.alpn_protocols = vec![b"chat/1".to_vec()];
    /// let acceptor = TlsAcceptor::new(Arc::new(config));
    /// # drop(acceptor);
    /// ```
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor { config }
    }

    /// Runs the server's handshake over `tcp`. Parks like any socket call: `tcp`'s timeouts
    /// and the `timeout` scopes around the call apply, so a client that stalls mid-handshake
    /// holds up only the green thread that waits for it, and only as long as they allow.
    ///
    /// # Errors
    ///
    /// `InvalidData` when TLS refuses (a client that speaks no TLS, an alert from the client
    /// such as "unknown CA"), with the `rustls::Error` inside; `UnexpectedEof` when the client
    /// hangs up; `TimedOut` past a timeout of `tcp`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use greenhub::net::TcpListener;
    /// use greenhub::tls::TlsAcceptor;
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    ///
    /// fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<()> {
    ///     loop {
    ///         let (tcp, _peer) = listener.accept()?;
    ///         let acceptor = acceptor.clone();
    ///         greenhub::spawn(move || -> std::io::Result<()> {
    ///             // Ten seconds to finish the handshake, then the client is dropped.
    ///             let mut stream = greenhub::timeout(Duration::from_secs(10), || {
    ///                 acceptor.accept(tcp)
    ///             })??;
    ///             let mut buf = [0u8; 4096];
    ///             loop {
    ///                 let n = stream.read(&mut buf)?;
    ///                 if n == 0 {
    ///                     return Ok(());
    ///                 }
    ///                 stream.write_all(&buf[..n])?;
    ///                 stream.flush()?;
    ///             }
    ///         });
    ///     }
    /// }
    /// ```
    pub fn accept(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        let connection = ServerConnection::new(self.config.clone()).map_err(tls_error)?;
        TlsStream::handshake(tcp, Session::new(connection.into()))
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}
