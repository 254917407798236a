//! TCP: a listener whose `accept` parks, and a stream whose `read` and `write` park.

use super::addr::{each_addr, ToSocketAddrs};
use super::shared::{connect_in, no_sigpipe, socket_common, stream_io, SEND_FLAGS};
use crate::io::source::Source;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The listen backlog that [`TcpListener::bind`] asks for.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// A TCP server socket. `accept` parks the calling green thread until a client arrives.
///
/// # Examples
///
/// ```no_run
/// use greenhub::net::TcpListener;
/// use std::io::{BufRead, BufReader, Write};
///
/// greenhub::run(|| -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:7000")?;
///     for stream in listener.incoming() {
///         let stream = stream?;
///         // One green thread per client, written as plain sequential code.
///         greenhub::spawn(move || -> std::io::Result<()> {
///             let mut writer = stream.try_clone()?;
///             for line in BufReader::new(stream).lines() {
///                 writeln!(writer, "{}", line?)?;
///             }
///             Ok(())
///         });
///     }
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    inner: Arc<Source<std::net::TcpListener>>,
}

/// A TCP connection. `Read` and `Write` park the calling green thread instead of blocking.
///
/// # Examples
///
/// ```
/// use greenhub::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// greenhub::run(|| -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let server = greenhub::spawn(move || -> std::io::Result<Vec<u8>> {
///         let (mut client, _) = listener.accept()?;
///         let mut got = Vec::new();
///         client.read_to_end(&mut got)?;
///         Ok(got)
///     });
///     let mut stream = TcpStream::connect(addr)?;
///     stream.write_all(b"hello")?;
///     stream.shutdown(std::net::Shutdown::Write)?;
///     assert_eq!(server.join().unwrap()?, b"hello");
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub struct TcpStream {
    inner: Arc<Source<std::net::TcpStream>>,
}

socket_common!(TcpListener, std::net::TcpListener);
socket_common!(TcpStream, std::net::TcpStream);
stream_io!(TcpStream);

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    no_sigpipe(SockRef::from(&socket))?;
    Ok(socket)
}

impl TcpListener {
    /// Binds a listener with `SO_REUSEADDR` on and a backlog of [`DEFAULT_BACKLOG`]. Binding
    /// `[::]` gives a dual-stack socket that also accepts IPv4 clients. Each resolved address is
    /// tried in turn.
    ///
    /// # Errors
    ///
    /// When no address can be bound (in use, not permitted, not resolvable).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = greenhub::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(addr, DEFAULT_BACKLOG)
    }

    /// Like [`bind`](Self::bind), with the listen backlog given.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = greenhub::net::TcpListener::bind_with_backlog("127.0.0.1:0", 16).unwrap();
    /// # drop(listener);
    /// ```
    pub fn bind_with_backlog<A: ToSocketAddrs>(addr: A, backlog: i32) -> io::Result<TcpListener> {
        each_addr(&addr, |addr| {
            let socket = new_socket(&addr)?;
            socket.set_reuse_address(true)?;
            if addr.is_ipv6() && addr.ip().is_unspecified() {
                socket.set_only_v6(false)?;
            }
            socket.bind(&addr.into())?;
            socket.listen(backlog)?;
            Ok(TcpListener::from_nonblocking(socket.into()))
        })
    }

    /// A listener on `addr` with `SO_REUSEPORT`, so several (one per hub) can share a port.
    pub(crate) fn bind_reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = new_socket(&addr)?;
        socket.set_reuse_address(true)?;
        #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(DEFAULT_BACKLOG)?;
        Ok(TcpListener::from_nonblocking(socket.into()))
    }

    /// Waits for a client and returns its stream and address.
    ///
    /// # Errors
    ///
    /// What accept(2) reports (`EMFILE` when out of descriptors, among others); `TimedOut`
    /// past the read timeout; `NotConnected` once [`close`](Self::close)d.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.read_with(|listener| listener.accept())?;
        Ok((TcpStream::try_from(stream)?, peer))
    }

    /// An endless iterator over incoming connections, each an [`accept`](Self::accept).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

/// The iterator returned by [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl TcpStream {
    /// Connects to the first address that accepts, trying each resolved address in turn. Host
    /// names are resolved on the blocking pool.
    ///
    /// # Errors
    ///
    /// The last address's error, such as `ConnectionRefused`.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     // Nothing listens on port 1 of this machine.
    ///     let err = greenhub::net::TcpStream::connect("127.0.0.1:1").unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    /// });
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |addr| TcpStream::connect_addr(&addr, None))
    }

    /// Connects to one address, giving up with `TimedOut` after `timeout`.
    ///
    /// # Errors
    ///
    /// `TimedOut`, or what the connection attempt reports.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_addr(addr, Some(timeout))
    }

    fn connect_addr(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let stream = TcpStream::from_nonblocking(new_socket(addr)?.into());
        connect_in(&stream.inner, &(*addr).into(), timeout)?;
        Ok(stream)
    }

    /// Reads without removing the data from the socket's queue.
    ///
    /// # Errors
    ///
    /// As `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|io| io.peek(buf))
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// What shutdown(2) reports, such as `NotConnected`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
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

/// A TCP stream's socket as one try sees it: reads and writes that return `WouldBlock` instead
/// of parking, and sends that never raise SIGPIPE. For a protocol layered on the stream (TLS),
/// which tries under its own lock and must never park holding it.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct RawTcp<'a>(&'a std::net::TcpStream);

impl Read for RawTcp<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut &*self.0).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&mut &*self.0).read_vectored(bufs)
    }
}

impl Write for RawTcp<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(self.0).send_with_flags(buf, SEND_FLAGS)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        SockRef::from(self.0).send_vectored_with_flags(bufs, SEND_FLAGS)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The layer for protocols on top of a stream: tries on the raw socket, and the waits between
/// them, which park without holding anything the caller's tries lock. (Only `tls` uses it.)
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
impl TcpStream {
    /// One try of `op` on the raw socket, without waiting (see `Source::attempt`).
    pub(crate) fn attempt<R>(
        &self,
        op: impl FnOnce(&mut RawTcp<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.inner.attempt(|io| op(&mut RawTcp(io)))
    }

    /// Tries `op` until it does not return `WouldBlock`, parking until the socket is readable
    /// between tries; `TimedOut` past the read timeout.
    pub(crate) fn read_with<R>(
        &self,
        mut op: impl FnMut(&mut RawTcp<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.inner.read_with(|io| op(&mut RawTcp(io)))
    }

    /// Tries `op` until it does not return `WouldBlock`, parking until the socket is writable
    /// between tries; `TimedOut` past the write timeout.
    pub(crate) fn write_with<R>(
        &self,
        mut op: impl FnMut(&mut RawTcp<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.inner.write_with(|io| op(&mut RawTcp(io)))
    }

    /// The raw socket, for a last try that must not yield (in a destructor).
    pub(crate) fn raw(&self) -> RawTcp<'_> {
        RawTcp(self.inner.get_ref())
    }
}
