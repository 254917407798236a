//! [`Async`]: readiness for any descriptor, so that pipes, terminals, inotify, or a socket a C
//! library hands out can be used from a green thread without blocking its hub. The crate's own
//! sockets and stdin go through the same [`Source`] and its one try / park / retry loop.

use super::source::{Direction, Source};
use crate::sys::os_result;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// A descriptor in non-blocking mode whose operations park the calling green thread (or block
/// a plain OS thread in poll(2)) until it is ready, instead of blocking the hub. The equivalent of
/// gevent's `wait_read`, may's `CoIo` and tokio's `AsyncFd`.
///
/// Run an operation with [`read_with`](Async::read_with) or [`write_with`](Async::write_with):
/// it is tried at once, and each time it fails with `WouldBlock` the green thread parks until
/// the descriptor is reported ready again. Or wait with [`readable`](Async::readable) /
/// [`writable`](Async::writable) and then call a library that does its own I/O. When `&T`
/// implements `Read` or `Write` (files, pipes, sockets), so does `&Async<T>`, so one green thread
/// can read while another writes.
///
/// Waits honour [`timeout`](crate::timeout) scopes, cancellation, and the timeouts set with
/// [`set_read_timeout`](Async::set_read_timeout) and [`set_write_timeout`](Async::set_write_timeout).
/// Regular files are always "ready" (their reads still wait for the disk); use
/// [`unblock`](crate::unblock) for slow disks.
///
/// # Examples
///
/// A pipe, read by one green thread while another writes it:
///
/// ```
/// use greenhub::io::Async;
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream; // any descriptor: a socketpair stands in for a pipe
///
/// greenhub::run(|| {
///     let (a, b) = UnixStream::pair().unwrap();
///     let (reader, writer) = (Async::new(a).unwrap(), Async::new(b).unwrap());
///     let echo = greenhub::spawn(move || {
///         let mut line = [0u8; 5];
///         (&reader).read_exact(&mut line).unwrap(); // parks until the bytes arrive
///         line
///     });
///     (&writer).write_all(b"hello").unwrap();
///     assert_eq!(&echo.join().unwrap(), b"hello");
/// });
/// ```
pub struct Async<T: AsRawFd> {
    source: Source<T>,
}

impl<T: AsRawFd> Async<T> {
    /// Puts `io`'s descriptor in non-blocking mode and wraps it. The descriptor is registered
    /// with the hub's poller the first time a green thread waits on it.
    ///
    /// # Errors
    ///
    /// When the descriptor's flags cannot be read or set (it is not open, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = greenhub::io::Async::new(a).unwrap();
    /// assert!(a.get_ref().peer_addr().is_ok());
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        set_nonblocking(io.as_raw_fd())?;
        Ok(Async {
            source: Source::new(io),
        })
    }

    /// The wrapped object. Calls made on it directly that would block return `WouldBlock`;
    /// go through [`read_with`](Async::read_with) to wait instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = greenhub::io::Async::new(a).unwrap();
    /// let _: &std::os::unix::net::UnixStream = a.get_ref();
    /// ```
    pub fn get_ref(&self) -> &T {
        self.source.get_ref()
    }

    /// Unwraps the object, still in non-blocking mode, after taking it off the poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = greenhub::io::Async::new(a).unwrap().into_inner();
    /// a.set_nonblocking(false).unwrap();
    /// ```
    pub fn into_inner(self) -> T {
        self.source.into_inner()
    }

    /// Parks until the descriptor is readable (or has hung up, or has an error to report).
    ///
    /// # Errors
    ///
    /// `TimedOut` after the read timeout; `NotConnected` if the descriptor is closed through
    /// greenhub meanwhile; what poll(2) reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// greenhub::run(|| {
    ///     let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let a = greenhub::io::Async::new(a).unwrap();
    ///     greenhub::spawn(move || b.write_all(b"x").unwrap());
    ///     a.readable().unwrap(); // parks until the byte is there
    /// });
    /// ```
    pub fn readable(&self) -> io::Result<()> {
        self.source.wait_until_ready(Direction::Read)
    }

    /// Parks until the descriptor is writable (or has hung up, or has an error to report).
    ///
    /// # Errors
    ///
    /// As for [`readable`](Async::readable), with the write timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     greenhub::io::Async::new(a).unwrap().writable().unwrap(); // room at once
    /// });
    /// ```
    pub fn writable(&self) -> io::Result<()> {
        self.source.wait_until_ready(Direction::Write)
    }

    /// Runs `op` until it does not fail with `WouldBlock`, parking until the descriptor is
    /// readable between tries. `op` should be a read-side operation on the descriptor itself.
    ///
    /// # Errors
    ///
    /// What `op` returns other than `WouldBlock` (and `Interrupted`, which is retried);
    /// `TimedOut` after the read timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// greenhub::run(|| {
    ///     let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let a = greenhub::io::Async::new(a).unwrap();
    ///     greenhub::spawn(move || b.write_all(b"hi").unwrap());
    ///     let mut buf = [0u8; 2];
    ///     let n = a.read_with(|mut s| s.read(&mut buf)).unwrap();
    ///     assert_eq!(&buf[..n], &b"hi"[..n]);
    /// });
    /// ```
    pub fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.source.read_with(op)
    }

    /// Runs `op` until it does not fail with `WouldBlock`, parking until the descriptor is
    /// writable between tries.
    ///
    /// # Errors
    ///
    /// As for [`read_with`](Async::read_with), with the write timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// greenhub::run(|| {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let a = greenhub::io::Async::new(a).unwrap();
    ///     assert_eq!(a.write_with(|mut s| s.write(b"hi")).unwrap(), 2);
    /// });
    /// ```
    pub fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.source.write_with(op)
    }

    /// Sets how long a read-side wait may last before it fails with `TimedOut` (`None`: no
    /// limit, the default).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration, as std's sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// greenhub::run(|| {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let a = greenhub::io::Async::new(a).unwrap();
    ///     a.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    ///     let err = a.readable().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// });
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.read_timeout.set(timeout)
    }

    /// Sets how long a write-side wait may last before it fails with `TimedOut`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = greenhub::io::Async::new(a).unwrap();
    /// a.set_write_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    /// assert_eq!(a.write_timeout(), Some(std::time::Duration::from_secs(1)));
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.write_timeout.set(timeout)
    }

    /// The read timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// assert_eq!(greenhub::io::Async::new(a).unwrap().read_timeout(), None);
    /// ```
    pub fn read_timeout(&self) -> Option<Duration> {
        self.source.read_timeout.get()
    }

    /// The write timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// assert_eq!(greenhub::io::Async::new(a).unwrap().write_timeout(), None);
    /// ```
    pub fn write_timeout(&self) -> Option<Duration> {
        self.source.write_timeout.get()
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL takes no pointers; a bad descriptor is reported as EBADF.
    let flags = os_result(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above, with an integer argument.
        os_result(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

impl<T: AsRawFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.source.as_raw_fd()
    }
}

impl<T: AsRawFd + AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsRawFd> Read for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.source
            .stream_with(Direction::Read, len, |mut io| io.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.source.read_with(|mut io| io.read_vectored(bufs))
    }
}

impl<T: AsRawFd> Write for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .stream_with(Direction::Write, buf.len(), |mut io| io.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.source.write_with(|mut io| io.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.source.write_with(|mut io| io.flush())
    }
}

impl<T: AsRawFd> Read for Async<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl<T: AsRawFd> Write for Async<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Async").field("io", self.get_ref()).finish()
    }
}
