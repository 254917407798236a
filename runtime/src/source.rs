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

use crate::hub::{with_hub, Hub};
use crate::readiness::Readiness;
use crate::remote::{HubShared, Remote};
use crate::sys::os_result;
use crate::task::Unparker;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Per direction (read, write): "may be ready", "closed for good" (the peer hung up), and a
    /// tick count so that clearing readiness after a failed call cannot erase an event that
    /// arrived meanwhile (see `crate::readiness`).
    readiness: [Readiness; 2],
    inner: Mutex<Waiters>,
    closed: AtomicBool,
}

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

    fn readiness(&self, direction: Direction) -> &Readiness {
        &self.readiness[direction as usize]
    }

    /// Called by the polling hub for each event: records readiness and wakes the waiters of
    /// each ready direction.
    pub(crate) fn dispatch(&self, event: &crate::reactor::Event) {
        if event.readable {
            self.readiness(Direction::Read).mark(event.read_closed);
        }
        if event.writable {
            self.readiness(Direction::Write).mark(event.write_closed);
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

    /// The hub that polls this descriptor stops for good: the descriptor leaves its poller and
    /// every waiter is woken, to wait again through a hub that still runs (one of another
    /// runtime, say) rather than forever on a poller nobody polls.
    pub(crate) fn orphan(&self, owner: &Arc<HubShared>) {
        let woken: Vec<Unparker> = {
            let mut waiters = self.lock();
            let owned = waiters
                .registration
                .as_ref()
                .is_some_and(|(registered, _)| Arc::ptr_eq(registered, owner));
            if owned {
                waiters.registration = None;
                let _ = owner.registrar.deregister(self.fd);
            }
            let mut all = std::mem::take(&mut waiters.readers);
            all.append(&mut waiters.writers);
            all
        };
        woken.iter().for_each(Unparker::unpark);
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
            let registered_with_a_running_hub = waiters
                .registration
                .as_ref()
                .is_some_and(|(owner, _)| !owner.is_stopped());
            if !registered_with_a_running_hub {
                if let Some((stale, _)) = waiters.registration.take() {
                    // Left over from a hub that has stopped (and normally let go of it already,
                    // see `orphan`): its poller must not keep the descriptor.
                    let _ = stale.registrar.deregister(self.fd);
                }
                let token = hub.register_source(self.clone())?;
                waiters.registration = Some((hub.shared.clone(), token));
            }
            if self.readiness(direction).observe().is_ready() {
                return Ok(());
            }
            waiters.list(direction).push(me.clone());
        }
        let _unregister = WaiterGuard {
            state: self,
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
        crate::interrupt::check();
        let deadline = crate::interrupt::os_deadline(deadline);
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // SAFETY: `pollfd` is one valid pollfd for the duration of the call.
        let polled = os_result(unsafe {
            libc::poll(&mut pollfd, 1, crate::reactor::timeout_millis(timeout))
        });
        match polled {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => {
                // Whatever poll said, the next attempt is worth making.
                self.readiness(direction).mark(false);
                Ok(())
            }
        }
    }

    /// Removes the descriptor from its poller, here and now whatever thread this is (so that
    /// the descriptor can be closed, or registered again elsewhere), and hands the token back to
    /// the polling hub, which frees it after its next poll. Called when the last handle goes
    /// away, before the descriptor is closed, and by `into_inner`.
    fn release(&self) {
        let registration = self.lock().registration.take();
        let Some((owner, token)) = registration else {
            return;
        };
        // Failure changes nothing: a descriptor closed since is no longer registered anyway.
        let _ = owner.registrar.deregister(self.fd);
        let local = with_hub(|hub| {
            let here = Arc::ptr_eq(&hub.shared, &owner);
            if here {
                hub.release_token(token);
            }
            here
        });
        if local != Some(true) {
            owner.push_remote(Remote::ReleaseSource(token));
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
        if self.state.readiness(self.direction).observe().is_ready() {
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
            readiness: [Readiness::new(), Readiness::new()],
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
