//! Waiting for Unix signals (SIGINT, SIGTERM, ...) from a green thread, without blocking its hub.
//!
//! Built on [signal-hook]'s self-pipe: the signal handler writes a byte to a socket pair, and
//! the waiting green thread parks on the read end like on any other socket.
//!
//! [signal-hook]: https://docs.rs/signal-hook

use crate::io::source::{Direction, Source};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

pub use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// The read end of the self-pipe, as the reactor sees it (signal-hook owns the socket).
struct PipeEnd(RawFd);

impl AsRawFd for PipeEnd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A set of signals a green thread can wait for. While it exists, these signals no longer have
/// their default effect (a SIGINT no longer kills the process); they are queued for
/// [`wait`](Signals::wait) instead.
///
/// # Examples
///
/// ```
/// use greenhub::signal::{Signals, SIGUSR1};
/// greenhub::run(|| -> std::io::Result<()> {
///     let mut signals = Signals::new(&[SIGUSR1])?;
///     // Stand-in for a user sending the signal: raise it ourselves.
///     signal_hook::low_level::raise(SIGUSR1)?;
///     assert_eq!(signals.wait()?, SIGUSR1);
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub struct Signals {
    // Fields drop in declaration order: the descriptor must leave the poller (`readiness`)
    // before signal-hook closes it (`delivery`), or the removal would hit a closed (or reused)
    // descriptor number and leave a stale registration behind.
    readiness: Source<PipeEnd>,
    delivery: SignalDelivery<UnixStream, SignalOnly>,
}

impl Signals {
    /// Starts catching `signals`.
    ///
    /// # Errors
    ///
    /// When a signal cannot be caught (SIGKILL, SIGSTOP and the fault signals are refused) or
    /// the self-pipe cannot be made.
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let fd = read.as_raw_fd();
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, signals)?;
        Ok(Signals {
            readiness: Source::new(PipeEnd(fd)),
            delivery,
        })
    }

    /// Parks until one of the signals arrives and returns its number. Signals that arrived since
    /// the last call are returned first, one per call.
    ///
    /// # Errors
    ///
    /// Only what the reactor reports; never a timeout.
    pub fn wait(&mut self) -> io::Result<i32> {
        let Signals {
            delivery,
            readiness,
        } = self;
        readiness.io_with(Direction::Read, None, |_| {
            delivery
                .pending()
                .next()
                .ok_or_else(|| io::ErrorKind::WouldBlock.into())
        })
    }

    /// The signals that arrived since the last look, without waiting.
    pub fn pending(&mut self) -> Vec<i32> {
        self.delivery.pending().collect()
    }
}
