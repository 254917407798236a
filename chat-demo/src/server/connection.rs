//! A client's connection, plain TCP or TLS: the one type the session, its writer and the
//! directory hold, so the sequential session code is the same over both. Like the streams it
//! wraps, `&Connection` reads and writes, so one green thread can read while another writes.

use greenhub::net::TcpStream;
use greenhub::tls::TlsStream;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

/// A client's byte stream: plain TCP, or TLS over TCP.
pub(super) enum Connection {
    Plain(TcpStream),
    /// Boxed: a TLS session is over a kilobyte, and a plain client should not pay for it.
    Tls(Box<TlsStream>),
}

impl Connection {
    /// The TCP stream underneath, for its options and addresses. Reading or writing it
    /// directly would corrupt a TLS stream.
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Connection::Plain(tcp) => tcp,
            Connection::Tls(tls) => tls.get_ref(),
        }
    }

    pub(super) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    pub(super) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    /// Shuts the stream down; over TLS, ending the writing half sends `close_notify` first
    /// (within the write timeout), so the peer's reads end cleanly.
    pub(super) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Connection::Plain(tcp) => tcp.shutdown(how),
            Connection::Tls(tls) => tls.shutdown(how),
        }
    }

    /// Whether written bytes may wait in the connection until [`Write::flush`] (TLS does).
    pub(super) fn buffers_writes(&self) -> bool {
        matches!(self, Connection::Tls(_))
    }
}

impl crate::deadline::ReadTimeout for Connection {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Connection::set_read_timeout(self, timeout)
    }
}

impl Read for &Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(tcp) => (&*tcp).read(buf),
            Connection::Tls(tls) => (&**tls).read(buf),
        }
    }
}

impl Write for &Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(tcp) => (&*tcp).write(buf),
            Connection::Tls(tls) => (&**tls).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Plain(tcp) => (&*tcp).flush(),
            Connection::Tls(tls) => (&**tls).flush(),
        }
    }
}
