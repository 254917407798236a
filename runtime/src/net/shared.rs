//! What every greenhub socket type has in common, written once.

/// The flags that keep a send from raising SIGPIPE. Every supported platform but Apple's has
/// `MSG_NOSIGNAL`; macOS and iOS use the `SO_NOSIGPIPE` socket option instead (`no_sigpipe`).
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// Makes writes to a socket whose peer is gone fail with `BrokenPipe` instead of raising SIGPIPE,
/// on platforms without `MSG_NOSIGNAL`.
pub(crate) fn no_sigpipe(_socket: socket2::SockRef<'_>) -> std::io::Result<()> {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    _socket.set_nosigpipe(true)?;
    Ok(())
}

/// Starts a non-blocking connect on the socket inside `source` and parks until it completes,
/// fails, or `timeout` passes. A wake-up before the connection is up (spurious, or readiness
/// from an earlier registration) is told apart by `getpeername`, which fails until then.
pub(crate) fn connect_in<T: std::os::fd::AsFd + std::os::fd::AsRawFd>(
    source: &crate::io::source::Source<T>,
    addr: &socket2::SockAddr,
    timeout: Option<std::time::Duration>,
) -> std::io::Result<()> {
    use std::io::ErrorKind;
    match socket2::SockRef::from(source.get_ref()).connect(addr) {
        Ok(()) => return Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == ErrorKind::WouldBlock => {
        }
        Err(e) => return Err(e),
    }
    source.io_with(crate::io::source::Direction::Write, timeout, |io| {
        let socket = socket2::SockRef::from(io);
        if let Some(err) = socket.take_error()? {
            return Err(err);
        }
        match socket.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotConnected => Err(ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        }
    })
}

/// Generates the methods every socket type shares: timeouts, `try_clone`, `close`, `take_error`
/// and descriptor access. `$ty` wraps `inner: Arc<Source<$std>>`.
macro_rules! socket_common {
    ($ty:ident, $std:ty) => {
        #[allow(unused_imports)]
        use std::os::fd::AsRawFd as _;
        impl $ty {
            fn from_nonblocking(io: $std) -> $ty {
                $ty {
                    inner: std::sync::Arc::new($crate::io::source::Source::new(io)),
                }
            }

            /// Sets the read timeout: a read (or accept, or receive) that waits longer returns
            /// `ErrorKind::TimedOut` and the socket stays usable. `None` waits forever.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a zero duration, as in std.
            pub fn set_read_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.inner.read_timeout.set(timeout)
            }

            /// The read timeout, if any.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.inner.read_timeout.get())
            }

            /// Sets the write timeout; see [`set_read_timeout`](Self::set_read_timeout).
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a zero duration, as in std.
            pub fn set_write_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.inner.write_timeout.set(timeout)
            }

            /// The write timeout, if any.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.inner.write_timeout.get())
            }

            /// Another handle to the same socket (the descriptor is shared, not duplicated), so
            /// one green thread can read while another writes. Timeouts are shared too.
            ///
            /// # Errors
            ///
            /// Never, today; the `Result` keeps std's signature.
            pub fn try_clone(&self) -> std::io::Result<$ty> {
                Ok($ty {
                    inner: self.inner.clone(),
                })
            }

            /// Shuts the socket down for every handle and wakes every green thread waiting on
            /// it, which then gets `ErrorKind::NotConnected`. The descriptor is closed when the
            /// last handle is dropped.
            ///
            /// # Errors
            ///
            /// What shutdown(2) reports, other than "not connected".
            pub fn close(self) -> std::io::Result<()> {
                self.inner
                    .close_with(|io| socket2::SockRef::from(io).shutdown(std::net::Shutdown::Both))
            }

            /// The pending socket error (`SO_ERROR`), clearing it.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                socket2::SockRef::from(self.inner.get_ref()).take_error()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.inner.get_ref().as_raw_fd())
                    .finish()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.get_ref().as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;

            /// Takes over a std socket, switching it to non-blocking mode.
            fn try_from(io: $std) -> std::io::Result<$ty> {
                io.set_nonblocking(true)?;
                $crate::net::shared::no_sigpipe(socket2::SockRef::from(&io))?;
                Ok($ty::from_nonblocking(io))
            }
        }

        impl $ty {
            /// Gives the socket back as its std type, in blocking mode.
            ///
            /// # Errors
            ///
            /// `ResourceBusy`-like `Other` error when other handles (from `try_clone`) still
            /// exist: blocking mode would change under their feet.
            pub fn into_std(self) -> std::io::Result<$std> {
                let source = std::sync::Arc::try_unwrap(self.inner).map_err(|_| {
                    std::io::Error::other("other handles to this socket exist (see try_clone)")
                })?;
                let io = source.into_inner();
                io.set_nonblocking(false)?;
                Ok(io)
            }
        }
    };
}

/// Generates `Read` and `Write` for a stream type and for shared references to it, through
/// `Source::stream_with`, sending with the no-SIGPIPE flags.
macro_rules! stream_io {
    ($ty:ident) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.inner
                    .stream_with($crate::io::source::Direction::Read, len, |io| {
                        std::io::Read::read(&mut &*io, buf)
                    })
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.inner
                    .stream_with($crate::io::source::Direction::Read, len, |io| {
                        std::io::Read::read_vectored(&mut &*io, bufs)
                    })
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner
                    .stream_with($crate::io::source::Direction::Write, buf.len(), |io| {
                        socket2::SockRef::from(io)
                            .send_with_flags(buf, $crate::net::shared::SEND_FLAGS)
                    })
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.inner
                    .stream_with($crate::io::source::Direction::Write, len, |io| {
                        socket2::SockRef::from(io)
                            .send_vectored_with_flags(bufs, $crate::net::shared::SEND_FLAGS)
                    })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use {socket_common, stream_io};
