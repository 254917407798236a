//! A registered file descriptor and the one generic try / park-until-ready / retry loop that
//! every socket operation goes through.
//!
//! ```text
//!   op() ──Ok/Err──────────────────────────────────────────────► return
//!    │
//!    └─ WouldBlock ─► ready flag set? ─yes─► clear it, retry op()
//!                          │
//!                          no ─► add me to the read (or write) waiters, park
//!                                      ▲
//!            hub poll: readiness edge ─┘ wake every waiter of that direction
//! ```
//!
//! The descriptor's readiness and waiters live in `crate::driver` ([`IoState`]), where the hub
//! that polls it reports its edges. Outside any hub the same loop blocks the calling thread in
//! poll(2).

pub(crate) use crate::driver::Direction;
use crate::driver::{IoState, PollingHub, Registration};
use crate::hub::{interrupt, with_hub, Hub};
use crate::reactor::timeout_millis;
use crate::sys::os_result;
use crate::task::Unparker;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Parks the current green thread until the descriptor may be ready in `direction`, the
/// deadline passes, or the descriptor is closed. Returns at once when an edge arrived since the
/// last failed attempt.
fn wait_on_hub(
    state: &Arc<IoState>,
    hub: &Hub,
    direction: Direction,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let me = Unparker::current();
    let register = || {
        let token = hub.register_source(state.clone())?;
        let hub: Arc<dyn PollingHub> = hub.shared.clone();
        Ok(Registration { hub, token })
    };
    if state.add_waiter(direction, me.clone(), register)? {
        return Ok(());
    }
    let _unregister = WaiterGuard {
        state,
        direction,
        me,
    };
    let _waiting = hub.wait_on_outside();
    match deadline {
        Some(deadline) => hub.park_until(deadline),
        None => hub.park(),
    }
    Ok(())
}

/// The same wait for a plain OS thread: poll(2) on the descriptor.
fn wait_on_thread(
    state: &IoState,
    direction: Direction,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd: state.fd(),
        events: poll_events(direction),
        revents: 0,
    };
    interrupt::check();
    let deadline = interrupt::os_deadline(deadline);
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    // SAFETY: `pollfd` is one valid pollfd for the duration of the call.
    let polled = os_result(unsafe { libc::poll(&mut pollfd, 1, timeout_millis(timeout)) });
    match polled {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => {
            // Whatever poll said, the next attempt is worth making.
            state.readiness(direction).mark(false);
            Ok(())
        }
    }
}

fn poll_events(direction: Direction) -> libc::c_short {
    match direction {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    }
}

/// Whether `fd` is ready in `direction` right now (readable, writable, hung up or in error).
fn poll_now(fd: RawFd, direction: Direction) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd,
        events: poll_events(direction),
        revents: 0,
    };
    loop {
        // SAFETY: `pollfd` is one valid pollfd for the duration of the call.
        match os_result(unsafe { libc::poll(&mut pollfd, 1, 0) }) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Takes a waiter that gave up (timed out or was cancelled) off the waiter list.
struct WaiterGuard<'a> {
    state: &'a IoState,
    direction: Direction,
    me: Unparker,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.state.remove_waiter(self.direction, &self.me);
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket was closed while this green thread waited on it",
    )
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the operation timed out")
}

/// A timeout stored in an atomic, so `set_read_timeout(&self)` works on shared handles.
#[derive(Default)]
pub(crate) struct AtomicTimeout(AtomicU64);

const NO_TIMEOUT: u64 = 0;

impl AtomicTimeout {
    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Sets the timeout; like std, a zero duration is refused.
    pub(crate) fn set(&self, timeout: Option<Duration>) -> io::Result<()> {
        let nanos = match timeout {
            None => NO_TIMEOUT,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(d) => d.as_nanos().clamp(1, u64::MAX as u128) as u64,
        };
        self.0.store(nanos, Ordering::Relaxed);
        Ok(())
    }
}

/// A non-blocking I/O object with its readiness state and timeouts.
pub(crate) struct Source<T: AsRawFd> {
    io: T,
    state: Arc<IoState>,
    pub(crate) read_timeout: AtomicTimeout,
    pub(crate) write_timeout: AtomicTimeout,
}

impl<T: AsRawFd> Source<T> {
    /// Wraps an I/O object that is already in non-blocking mode.
    pub(crate) fn new(io: T) -> Source<T> {
        let state = Arc::new(IoState::new(io.as_raw_fd()));
        Source {
            io,
            state,
            read_timeout: AtomicTimeout::default(),
            write_timeout: AtomicTimeout::default(),
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Gives the inner object back, removing it from the reactor first.
    pub(crate) fn into_inner(self) -> T {
        let this = std::mem::ManuallyDrop::new(self);
        this.state.release();
        // SAFETY: `this` is never used or dropped again, so `io` is moved out exactly once and
        // `state` (an Arc) is dropped exactly once here.
        unsafe {
            drop(std::ptr::read(&this.state));
            std::ptr::read(&this.io)
        }
    }

    /// The timeout set for waits in `direction`.
    fn timeout(&self, direction: Direction) -> Option<Duration> {
        match direction {
            Direction::Read => self.read_timeout.get(),
            Direction::Write => self.write_timeout.get(),
        }
    }

    /// Runs a read-side operation with the read timeout.
    pub(crate) fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Read, self.read_timeout.get(), op)
    }

    /// Runs a write-side operation with the write timeout.
    pub(crate) fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Write, self.write_timeout.get(), op)
    }

    /// A stream read or write of `len` bytes: one that moves fewer bytes drained the socket
    /// (nothing more to read, or the send buffer is full), so the next call waits for readiness
    /// instead of spending a system call on `EAGAIN`.
    pub(crate) fn stream_with(
        &self,
        direction: Direction,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let timeout = self.timeout(direction);
        self.io_until_drained(direction, timeout, op, |&n| n > 0 && n < len)
    }

    /// Tries `op`; while it would block, waits for readiness in `direction` and retries.
    ///
    /// # Errors
    ///
    /// What `op` returns; `TimedOut` when `timeout` passes first; `NotConnected` when the
    /// socket is closed (see `close`) while waiting.
    pub(crate) fn io_with<R>(
        &self,
        direction: Direction,
        timeout: Option<Duration>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_until_drained(direction, timeout, op, |_| false)
    }

    /// Parks until the descriptor is ready in `direction` (checked with a zero-timeout poll(2),
    /// so that a stale "may be ready" from the last edge is not taken for readiness), with that
    /// direction's timeout.
    ///
    /// # Errors
    ///
    /// `TimedOut`, `NotConnected` when closed meanwhile, or what poll(2) reports.
    pub(crate) fn wait_until_ready(&self, direction: Direction) -> io::Result<()> {
        let timeout = self.timeout(direction);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if self.state.is_closed() {
                return Err(closed_error());
            }
            let readiness = self.state.readiness(direction);
            let observed = readiness.observe();
            if observed.is_ready() {
                if poll_now(self.state.fd(), direction)? {
                    return Ok(());
                }
                readiness.clear(observed);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timed_out());
            }
            match with_hub(|hub| wait_on_hub(&self.state, hub, direction, deadline)) {
                Some(waited) => waited?,
                None => wait_on_thread(&self.state, direction, deadline)?,
            }
        }
    }

    /// One try of `op` without waiting for readiness, for callers that may have work to do
    /// before the descriptor matters (a TLS session with decrypted bytes in store) and wait
    /// through [`io_with`](Self::io_with) when it would block. A try that did not block counts
    /// against the I/O budget, as an operation completed by `io_with` does.
    ///
    /// # Errors
    ///
    /// What `op` returns (`WouldBlock` among them); `NotConnected` once the socket is closed.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn attempt<R>(&self, op: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
        if self.state.is_closed() {
            return Err(closed_error());
        }
        let result = op(&self.io);
        if !matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            // Not a cancellation point: the operation happened (see `io_until_drained`).
            let _ = with_hub(Hub::spend_io_budget);
        }
        result
    }

    // ANCHOR: try_park_retry
    fn io_until_drained<R>(
        &self,
        direction: Direction,
        timeout: Option<Duration>,
        mut op: impl FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if self.state.is_closed() {
                return Err(closed_error());
            }
            let readiness = self.state.readiness(direction);
            let observed = readiness.observe();
            if observed.is_ready() {
                match op(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => readiness.clear(observed),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    result => {
                        if result.as_ref().is_ok_and(&drained) {
                            readiness.clear(observed);
                        }
                        // The operation happened: its result goes back to the caller whatever
                        // the budget's yield sees (it is not a cancellation point).
                        let _ = with_hub(Hub::spend_io_budget);
                        return result;
                    }
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timed_out());
            }
            match with_hub(|hub| wait_on_hub(&self.state, hub, direction, deadline)) {
                Some(waited) => waited?,
                None => wait_on_thread(&self.state, direction, deadline)?,
            }
        }
    }
    // ANCHOR_END: try_park_retry

    /// Shuts the socket down for everyone and wakes every green thread waiting on it, which
    /// then gets `NotConnected`. The descriptor itself is closed when the last handle drops.
    pub(crate) fn close_with(&self, shutdown: impl FnOnce(&T) -> io::Result<()>) -> io::Result<()> {
        let result = match shutdown(&self.io) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        };
        self.state.close();
        result
    }
}

impl<T: AsRawFd> Drop for Source<T> {
    fn drop(&mut self) {
        self.state.release();
    }
}

impl<T: AsRawFd> AsRawFd for Source<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
