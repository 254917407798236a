//! Unix domain sockets: streams, a listener and datagrams, each parking instead of blocking.

use super::shared::{connect_in, no_sigpipe, socket_common, stream_io};
use crate::io::source::Source;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// A Unix stream server socket.
///
/// # Examples
///
/// ```
/// use greenhub::net::{UnixListener, UnixStream};
/// use std::io::{Read, Write};
/// greenhub::run(|| -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("greenhub-doc-{}.sock", std::process::id()));
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path)?;
///     let client = greenhub::spawn({
///         let path = path.clone();
///         move || UnixStream::connect(&path)?.write_all(b"hi")
///     });
///     let (mut server_side, _) = listener.accept()?;
///     let mut got = String::new();
///     server_side.read_to_string(&mut got)?;
///     client.join().unwrap()?;
///     assert_eq!(got, "hi");
///     std::fs::remove_file(&path)
/// })
/// # .unwrap();
/// ```
pub struct UnixListener {
    inner: Arc<Source<net::UnixListener>>,
}

/// A Unix stream connection; `Read` and `Write` park instead of blocking.
pub struct UnixStream {
    inner: Arc<Source<net::UnixStream>>,
}

/// A Unix datagram socket.
///
/// # Examples
///
/// ```
/// greenhub::run(|| -> std::io::Result<()> {
///     let (a, b) = greenhub::net::UnixDatagram::pair()?;
///     a.send(b"one datagram")?;
///     let mut buf = [0; 32];
///     let n = b.recv(&mut buf)?;
///     assert_eq!(&buf[..n], b"one datagram");
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub struct UnixDatagram {
    inner: Arc<Source<net::UnixDatagram>>,
}

socket_common!(UnixListener, net::UnixListener);
socket_common!(UnixStream, net::UnixStream);
socket_common!(UnixDatagram, net::UnixDatagram);
stream_io!(UnixStream);

impl UnixListener {
    /// Binds a listener to a filesystem path.
    ///
    /// # Errors
    ///
    /// When the path exists already or cannot be created.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::try_from(net::UnixListener::bind(path)?)
    }

    /// Waits for a client.
    ///
    /// # Errors
    ///
    /// What accept(2) reports; `TimedOut` past the read timeout.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.inner.read_with(|listener| listener.accept())?;
        Ok((UnixStream::try_from(stream)?, addr))
    }

    /// An endless iterator over incoming connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

/// The iterator returned by [`UnixListener::incoming`].
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl UnixStream {
    /// Connects to the listener at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound` when nothing is there, `ConnectionRefused` when nothing listens.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        no_sigpipe(SockRef::from(&socket))?;
        let stream = UnixStream::from_nonblocking(net::UnixStream::from(socket));
        connect_in(&stream.inner, &SockAddr::unix(path)?, None)?;
        Ok(stream)
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// What socketpair(2) reports.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::try_from(a)?, UnixStream::try_from(b)?))
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl UnixDatagram {
    /// Binds a datagram socket to a filesystem path.
    ///
    /// # Errors
    ///
    /// When the path exists already or cannot be created.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::try_from(net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::try_from(net::UnixDatagram::unbound()?)
    }

    /// A connected pair of datagram sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::try_from(a)?, UnixDatagram::try_from(b)?))
    }

    /// Sets the default destination.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// Sends to the connected address; parks while the send buffer is full.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|io| io.send(buf))
    }

    /// Sends to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.inner.write_with(|io| io.send_to(buf, path.as_ref()))
    }

    /// Receives a datagram; parks until one arrives.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|io| io.recv(buf))
    }

    /// Receives a datagram and its sender's address.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|io| io.recv_from(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }
}
