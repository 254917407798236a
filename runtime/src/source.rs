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
//! The descriptor is registered once, edge-triggered, with the poller of the first hub that waits
//! on it; events for it are always handled there and wake waiters on any hub through their
//! [`Unparker`]. The ready flags close the window between a failed `op()` and the waiter being
//! registered: an edge that arrives in between is remembered rather than lost. Outside any hub
//! the same loop blocks the calling thread in poll(2).

use crate::hub::{with_hub, Hub, HubShared};
use crate::task::Unparker;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Which readiness a waiter needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// How many operations a green thread may complete without parking before it yields, so that a
/// client whose socket always has data cannot starve everyone else on its hub.
pub(crate) const IO_BUDGET: u32 = 128;

/// Per-descriptor readiness and waiters, shared between the socket handles and the hub that
/// polls the descriptor.
pub(crate) struct IoState {
    fd: RawFd,
    /// Per direction (read, write): bit 0 says "may be ready, try the call"; bit 1 says "closed"
    /// (the peer hung up or the socket failed), after which calls never block again, so
    /// readiness is never cleared; the bits above count readiness events, so that clearing
    /// bit 0 after a failed or short call cannot erase an event that arrived meanwhile (the
    /// clear is a compare-exchange on the value seen before the call).
    readiness: [AtomicU32; 2],
    inner: Mutex<Waiters>,
    closed: AtomicBool,
}

const READY: u32 = 1;
const CLOSED: u32 = 2;
const TICK_SHIFT: u32 = 2;

#[derive(Default)]
struct Waiters {
    readers: Vec<Unparker>,
    writers: Vec<Unparker>,
    /// The hub whose poller reports this descriptor, and the token it reports it under.
    registration: Option<(Arc<HubShared>, usize)>,
}

impl Waiters {
    fn list(&mut self, direction: Direction) -> &mut Vec<Unparker> {
        match direction {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

impl IoState {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn readiness(&self, direction: Direction) -> &AtomicU32 {
        &self.readiness[direction as usize]
    }

    /// Records a readiness event: bumps the count and sets "may be ready" (and "closed").
    fn mark_ready(&self, direction: Direction, closed: bool) {
        let closed = if closed { CLOSED } else { 0 };
        let update = |value: u32| {
            let tick = (value >> TICK_SHIFT).wrapping_add(1);
            Some((tick << TICK_SHIFT) | (value & CLOSED) | closed | READY)
        };
        let _ = self
            .readiness(direction)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, update);
    }

    /// Clears "may be ready" unless an event arrived since `observed` was read, or the
    /// direction is closed for good.
    fn clear_ready(&self, direction: Direction, observed: u32) {
        if observed & READY != 0 && observed & CLOSED == 0 {
            let _ = self.readiness(direction).compare_exchange(
                observed,
                observed & !READY,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// Called by the polling hub for each event: records readiness and wakes the waiters of
    /// each ready direction.
    pub(crate) fn dispatch(&self, event: &crate::reactor::Event) {
        if event.readable {
            self.mark_ready(Direction::Read, event.read_closed);
        }
        if event.writable {
            self.mark_ready(Direction::Write, event.write_closed);
        }
        let mut waiters = self.lock();
        // Waking under the lock needs no list of its own; a wake only queues the green thread.
        for (ready, direction) in [
            (event.readable, Direction::Read),
            (event.writable, Direction::Write),
        ] {
            if ready {
                waiters.list(direction).drain(..).for_each(|w| w.unpark());
            }
        }
    }

    /// Marks the descriptor closed and wakes everyone waiting on it.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let woken: Vec<Unparker> = {
            let mut waiters = self.lock();
            let mut all = std::mem::take(&mut waiters.readers);
            all.append(&mut waiters.writers);
            all
        };
        woken.iter().for_each(Unparker::unpark);
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Parks the current green thread until the descriptor may be ready in `direction`, the
    /// deadline passes, or the descriptor is closed. Returns at once when an edge arrived since
    /// the last failed attempt.
    fn wait_on_hub(
        self: &Arc<Self>,
        hub: &Hub,
        direction: Direction,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let me = Unparker::current();
        {
            let mut waiters = self.lock();
            let registered_here_or_alive = waiters
                .registration
                .as_ref()
                .is_some_and(|(owner, _)| !owner.liveness.shutdown.load(Ordering::SeqCst));
            if !registered_here_or_alive {
                let token = hub.register_source(self.clone())?;
                waiters.registration = Some((hub.shared.clone(), token));
            }
            if self.readiness(direction).load(Ordering::Acquire) & READY != 0 {
                return Ok(());
            }
            waiters.list(direction).push(me.clone());
        }
        let _unregister = WaiterGuard {
            state: self,
            direction,
            me,
        };
        let _waiting = hub.io_wait_begins();
        match deadline {
            Some(deadline) => hub.park_until(deadline),
            None => hub.park(),
        }
        Ok(())
    }

    /// The same wait for a plain OS thread: poll(2) on the descriptor.
    fn wait_on_thread(&self, direction: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let events = match direction {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
        };
        let mut pollfd = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        let deadline = crate::timeout::os_deadline(deadline);
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match crate::sys::syscall!(poll(
            &mut pollfd,
            1,
            crate::reactor::timeout_millis(timeout)
        )) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => {
                // Whatever poll said, the next attempt is worth making.
                self.mark_ready(direction, false);
                crate::timeout::check_os_expired();
                Ok(())
            }
        }
    }

    /// Hands the registration back to the polling hub, which frees its token after its next
    /// poll. Called when the last handle goes away, before the descriptor is closed.
    fn release(&self) {
        let registration = self.lock().registration.take();
        let Some((owner, token)) = registration else {
            return;
        };
        let local = with_hub(|hub| {
            let here = Arc::ptr_eq(&hub.shared, &owner);
            if here {
                hub.release_source(token, Some(self.fd));
            }
            here
        });
        if local != Some(true) && !owner.liveness.shutdown.load(Ordering::SeqCst) {
            owner.push_remote(crate::hub::Remote::ReleaseSource(token));
        }
    }
}

/// Removes a waiter that gave up (timed out or was cancelled) so waiter lists never grow with
/// stale entries.
struct WaiterGuard<'a> {
    state: &'a IoState,
    direction: Direction,
    me: Unparker,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        // Woken by readiness: the event already took us off the list. (Should a timer fire in
        // the same instant, the entry left behind is dropped by the next event.)
        if self.state.readiness(self.direction).load(Ordering::Acquire) & READY != 0 {
            return;
        }
        let mut waiters = self.state.lock();
        waiters.list(self.direction).retain(|w| !w.same(&self.me));
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
        let state = Arc::new(IoState {
            fd: io.as_raw_fd(),
            readiness: [AtomicU32::new(READY), AtomicU32::new(READY)],
            inner: Mutex::new(Waiters::default()),
            closed: AtomicBool::new(false),
        });
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
        let timeout = match direction {
            Direction::Read => self.read_timeout.get(),
            Direction::Write => self.write_timeout.get(),
        };
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
            let observed = self.state.readiness(direction).load(Ordering::Acquire);
            if observed & READY != 0 {
                match op(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.state.clear_ready(direction, observed);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    result => {
                        if result.as_ref().is_ok_and(&drained) {
                            self.state.clear_ready(direction, observed);
                        }
                        let _ = with_hub(Hub::spend_io_budget);
                        return result;
                    }
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timed_out());
            }
            match with_hub(|hub| self.state.wait_on_hub(hub, direction, deadline)) {
                Some(waited) => waited?,
                None => self.state.wait_on_thread(direction, deadline)?,
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
