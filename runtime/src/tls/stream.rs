//! `TlsStream`: a TLS session over a greenhub TCP stream that one reader and one writer green
//! thread can use at once.
//!
//! ```text
//!   reader: read(buf)                       lock ─ one try ─ unlock    writer: write(buf)
//!     plaintext in store? take it ──► Ok                                 queue sent? else send
//!     else read socket, decrypt,                                          what the socket takes
//!       send answers the socket takes now     the lock is held            nothing sent: unlock,
//!     nothing on the socket: unlock,          only for a try,             park until writable
//!       park until readable, try again        never across a park         take buf, send ─► Ok
//! ```

use super::session::{is_would_block, or_would_block, Session};
use crate::net::TcpStream;
use rustls::pki_types::CertificateDer;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A TLS connection over a greenhub [`TcpStream`], made by [`TlsConnector::connect`] or
/// [`TlsAcceptor::accept`].
///
/// `Read` and `Write` are implemented for `TlsStream` and for `&TlsStream`, so one green thread
/// can read while another writes the same connection (share it with an `Arc`), as Go's
/// `tls.Conn` allows. Neither holds the session while it waits for the socket: a writer sends
/// while a reader waits for data, and whatever the reader's records ask the session to send
/// back (the answer to a key update, an alert) goes out with the next try of either.
///
/// Reads and writes follow the crate's promises (see "What users can rely on" in the README):
///
/// - A read cut short (a read timeout, a `timeout` scope, a cancel) loses nothing: records read
///   so far and plaintext decrypted but not taken stay in the session for the next read.
/// - A write returns the number of bytes the session took: they are sent by that write, the
///   next one, or [`flush`](Write::flush), even if the socket was full. Like a `BufWriter`,
///   call `flush` before waiting for an answer to what you wrote: a write's last bytes may
///   wait in the session until then (at most one write's worth, 64 KiB: a write first waits
///   for the bytes the one before it left).
/// - The peer's `close_notify` ends the stream: `read` returns 0. A peer that hangs up without
///   one makes `read` fail with `UnexpectedEof`, since what it sent may have been cut short.
///   [`shutdown`](Self::shutdown) sends `close_notify`.
/// - A TLS error (a record that does not decrypt, a fatal alert) fails every read and write
///   after it with `InvalidData`, the rustls error inside.
///
/// The timeouts are the TCP stream's ([`get_ref`](Self::get_ref)`().set_read_timeout(..)`),
/// and a timeout leaves the session usable. Several readers (or writers) at once are safe but
/// share the bytes in no useful order, as with a `TcpStream`.
///
/// # Examples
///
/// A reader and a writer green thread on one connection:
///
/// ```
/// use greenhub::net::{TcpListener, TcpStream};
/// use greenhub::tls::rustls::{self, pki_types::PrivateKeyDer};
/// use greenhub::tls::{TlsAcceptor, TlsConnector};
/// use std::io::{Read, Write};
/// use std::sync::Arc;
///
/// greenhub::run(|| -> std::io::Result<()> {
///     let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
///     let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
///     let server_config = rustls::ServerConfig::builder()
///         .with_no_client_auth()
///         .with_single_cert(vec![made.cert.der().clone()], key)
///         .unwrap();
///     let mut roots = rustls::RootCertStore::empty();
///     roots.add(made.cert.der().clone()).unwrap();
///     let client_config = rustls::ClientConfig::builder()
///         .with_root_certificates(roots)
///         .with_no_client_auth();
///
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let acceptor = TlsAcceptor::new(Arc::new(server_config));
///     let server = greenhub::spawn(move || -> std::io::Result<()> {
///         let mut stream = acceptor.accept(listener.accept()?.0)?;
///         let mut request = [0u8; 4];
///         stream.read_exact(&mut request)?;
///         stream.write_all(b"pong")?;
///         stream.flush()
///     });
///
///     let connector = TlsConnector::new(Arc::new(client_config));
///     let stream = Arc::new(connector.connect("localhost", TcpStream::connect(addr)?)?);
///     let reader = {
///         let stream = stream.clone();
///         greenhub::spawn(move || -> std::io::Result<Vec<u8>> {
///             let mut reply = vec![0u8; 4];
///             (&*stream).read_exact(&mut reply)?; // waits without holding up the writer
///             Ok(reply)
///         })
///     };
///     (&*stream).write_all(b"ping")?;
///     (&*stream).flush()?;
///     assert_eq!(reader.join().unwrap()?, b"pong");
///     server.join().unwrap()
/// })
/// # .unwrap();
/// ```
///
/// [`TlsConnector::connect`]: super::TlsConnector::connect
/// [`TlsAcceptor::accept`]: super::TlsAcceptor::accept
pub struct TlsStream {
    tcp: TcpStream,
    session: Mutex<Session>,
}

impl TlsStream {
    /// Runs the handshake of `session` over `tcp` and makes the stream.
    pub(super) fn handshake(tcp: TcpStream, mut session: Session) -> io::Result<TlsStream> {
        session.handshake(&tcp)?;
        Ok(TlsStream {
            tcp,
            session: Mutex::new(session),
        })
    }

    /// The session. Its lock is only ever held for a try, which never parks, so a wait for it
    /// is short (and only ever made by a green thread of another hub). Poisoning is ignored:
    /// std decides it per OS thread, so a guard dropped on a hub while any of its green threads
    /// is suspended mid-unwind would poison the lock for nothing (see the README).
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The TCP stream underneath, for its timeouts and addresses. Reading or writing it
    /// directly would corrupt the TLS stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// fn patient(stream: &greenhub::tls::TlsStream) -> std::io::Result<()> {
    ///     // A read that waits longer returns `TimedOut` and the session stays usable.
    ///     stream.get_ref().set_read_timeout(Some(Duration::from_secs(30)))?;
    ///     println!("talking to {}", stream.get_ref().peer_addr()?);
    ///     Ok(())
    /// }
    /// ```
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    /// Ends the writing half with a `close_notify` (for `Write` or `Both`), sends what is
    /// queued and shuts the TCP stream down the same way. The peer's reads then end cleanly.
    /// Reading goes on after `Shutdown::Write`, until the peer's own `close_notify`.
    ///
    /// # Errors
    ///
    /// What sending the queued bytes met (`TimedOut` past the write timeout, `BrokenPipe`);
    /// what shutdown(2) reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::Shutdown;
    ///
    /// fn ask(stream: &greenhub::tls::TlsStream) -> std::io::Result<Vec<u8>> {
    ///     (&*stream).write_all(b"the whole question")?;
    ///     stream.shutdown(Shutdown::Write)?; // close_notify: the peer reads to its end
    ///     let mut answer = Vec::new();
    ///     (&*stream).read_to_end(&mut answer)?; // ends at the peer's close_notify
    ///     Ok(answer)
    /// }
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            self.session().close_write();
            self.flush_queued()?;
        }
        self.tcp.shutdown(how)
    }

    /// The application protocol agreed by ALPN, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// fn speaks_h2(stream: &greenhub::tls::TlsStream) -> bool {
    ///     stream.alpn_protocol().as_deref() == Some(b"h2")
    /// }
    /// ```
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.session()
            .connection()
            .alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    /// The certificates the peer presented, its own first (on a server, only when it asked
    /// clients for theirs).
    ///
    /// # Examples
    ///
    /// ```
    /// fn presented(stream: &greenhub::tls::TlsStream) -> usize {
    ///     stream.peer_certificates().map_or(0, |chain| chain.len())
    /// }
    /// ```
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        let session = self.session();
        let chain = session.connection().peer_certificates()?;
        Some(chain.iter().map(|cert| cert.clone().into_owned()).collect())
    }

    /// The TLS version agreed in the handshake.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::tls::rustls::ProtocolVersion;
    ///
    /// fn modern(stream: &greenhub::tls::TlsStream) -> bool {
    ///     stream.protocol_version() == Some(ProtocolVersion::TLSv1_3)
    /// }
    /// ```
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session().connection().protocol_version()
    }

    /// Sends everything queued, parking until the socket takes it.
    fn flush_queued(&self) -> io::Result<()> {
        let outcome = self.tcp.attempt(|socket| self.session().flush_to(socket));
        if !is_would_block(&outcome) {
            return outcome;
        }
        self.tcp
            .write_with(|socket| self.session().flush_to(socket))
    }
}

impl Read for &TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let stream = *self;
        // Plaintext in store needs no socket (which may have nothing more to say for now).
        let stored = stream
            .tcp
            .attempt(|_| or_would_block(stream.session().take_plaintext(buf)));
        if !is_would_block(&stored) {
            return stored;
        }
        stream
            .tcp
            .read_with(|socket| stream.session().read_from(socket, buf))
    }
}

impl Write for &TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let stream = *self;
        // Without waiting for readiness first: with nothing queued, the session takes `buf`
        // whatever the socket says.
        let written = stream
            .tcp
            .attempt(|socket| stream.session().write_to(socket, buf));
        if !is_would_block(&written) {
            return written;
        }
        stream
            .tcp
            .write_with(|socket| stream.session().write_to(socket, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_queued()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Drop for TlsStream {
    /// Sends what writes left queued if the socket takes it at once. It does not wait: a
    /// destructor that waits on a peer can hang. Nor does it send `close_notify`: a stream
    /// dropped by a panic must not look finished to its peer.
    fn drop(&mut self) {
        let session = self
            .session
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        // An error here is the peer's to notice: the connection closes either way.
        let _ = session.push(&mut self.tcp.raw());
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .field("protocol_version", &self.protocol_version())
            .finish()
    }
}
