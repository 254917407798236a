//! One descriptor's readiness and waiters, shared by its handles (on any thread) and the hub
//! whose poller reports it.
//!
//! The descriptor is registered once, edge-triggered, with the poller of the first hub that waits
//! on it; events for it are always handled there and wake waiters on any hub through their
//! [`Unparker`]. The ready flags close the window between a failed operation and the waiter being
//! registered: an edge that arrives in between is remembered rather than lost.

use super::readiness::Readiness;
use crate::reactor::{Event, Registrar};
use crate::task::Unparker;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Which readiness a waiter needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// The hub whose poller reports a descriptor, as the descriptor's handles see it from any thread.
/// The hub's shared half implements it.
pub(crate) trait PollingHub: Send + Sync {
    /// Adds and removes descriptors on the hub's poller, from any thread.
    fn registrar(&self) -> &Registrar;

    /// Whether the hub has stopped for good (its poller is polled no more).
    fn is_stopped(&self) -> bool;

    /// Hands a token back after its descriptor left the poller; the hub frees it after its next
    /// poll, the last that could report it. Callable from any thread.
    fn release_token(&self, token: usize);
}

/// Where a descriptor is registered: the hub that polls it, and the token it reports it under.
pub(crate) struct Registration {
    pub(crate) hub: Arc<dyn PollingHub>,
    pub(crate) token: usize,
}

impl Registration {
    fn is_on<H: PollingHub>(&self, hub: &H) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.hub), hub as *const H)
    }
}

/// Per-descriptor readiness and waiters.
pub(crate) struct IoState {
    fd: RawFd,
    /// Per direction (read, write): "may be ready", "closed for good" (the peer hung up), and a
    /// tick count so that clearing readiness after a failed call cannot erase an event that
    /// arrived meanwhile (see `super::readiness`).
    readiness: [Readiness; 2],
    inner: Mutex<Waiters>,
    closed: AtomicBool,
}

#[derive(Default)]
struct Waiters {
    readers: Vec<Unparker>,
    writers: Vec<Unparker>,
    registration: Option<Registration>,
}

impl Waiters {
    fn list(&mut self, direction: Direction) -> &mut Vec<Unparker> {
        match direction {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }

    fn take_all(&mut self) -> Vec<Unparker> {
        let mut all = std::mem::take(&mut self.readers);
        all.append(&mut self.writers);
        all
    }
}

/// Wakes and removes every waiter of one list, keeping its allocation for the next waiters.
#[inline]
fn wake_all(list: &mut Vec<Unparker>) {
    if !list.is_empty() {
        list.drain(..).for_each(|w| w.unpark());
    }
}

impl IoState {
    pub(crate) fn new(fd: RawFd) -> IoState {
        IoState {
            fd,
            readiness: [Readiness::new(), Readiness::new()],
            inner: Mutex::new(Waiters::default()),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    pub(crate) fn readiness(&self, direction: Direction) -> &Readiness {
        &self.readiness[direction as usize]
    }

    /// Called by the polling hub for each event: records readiness and wakes the waiters of
    /// each ready direction.
    pub(crate) fn dispatch(&self, event: &Event) {
        if event.readable {
            self.readiness(Direction::Read).mark(event.read_closed);
        }
        if event.writable {
            self.readiness(Direction::Write).mark(event.write_closed);
        }
        let mut waiters = self.lock();
        // Waking under the lock needs no list of its own; a wake only queues the green thread.
        // Most events find one direction's list empty (an echo server's socket reports
        // "writable" with every read edge): skip those without setting up a drain.
        if event.readable {
            wake_all(&mut waiters.readers);
        }
        if event.writable {
            wake_all(&mut waiters.writers);
        }
    }

    /// Adds `me` to the waiters of `direction`, unless an edge arrived since the last failed
    /// attempt (then returns true: try again at once). First makes sure a running hub polls the
    /// descriptor, calling `register` for a registration with the caller's hub if none does.
    #[inline]
    pub(crate) fn add_waiter(
        &self,
        direction: Direction,
        me: Unparker,
        register: impl FnOnce() -> io::Result<Registration>,
    ) -> io::Result<bool> {
        let mut waiters = self.lock();
        let registered_with_a_running_hub = waiters
            .registration
            .as_ref()
            .is_some_and(|registration| !registration.hub.is_stopped());
        if !registered_with_a_running_hub {
            if let Some(stale) = waiters.registration.take() {
                // Left over from a hub that has stopped (and normally let go of it already, see
                // `orphan`): its poller must not keep the descriptor.
                let _ = stale.hub.registrar().deregister(self.fd);
            }
            waiters.registration = Some(register()?);
        }
        if self.readiness(direction).observe().is_ready() {
            return Ok(true);
        }
        waiters.list(direction).push(me);
        Ok(false)
    }

    /// Takes `me` off the waiters of `direction` after it gave up (timed out or was cancelled),
    /// so waiter lists never grow with stale entries.
    #[inline]
    pub(crate) fn remove_waiter(&self, direction: Direction, me: &Unparker) {
        // Woken by readiness: the event already took us off the list. (Should a timer fire in
        // the same instant, the entry left behind is dropped by the next event.)
        if self.readiness(direction).observe().is_ready() {
            return;
        }
        self.lock().list(direction).retain(|w| !w.same(me));
    }

    /// The hub that polls this descriptor stops for good: the descriptor leaves its poller and
    /// every waiter is woken, to wait again through a hub that still runs (one of another
    /// runtime, say) rather than forever on a poller nobody polls.
    pub(crate) fn orphan<H: PollingHub>(&self, owner: &H) {
        let woken = {
            let mut waiters = self.lock();
            let owned = waiters
                .registration
                .as_ref()
                .is_some_and(|registration| registration.is_on(owner));
            if owned {
                waiters.registration = None;
                let _ = owner.registrar().deregister(self.fd);
            }
            waiters.take_all()
        };
        woken.iter().for_each(Unparker::unpark);
    }

    /// Marks the descriptor closed and wakes everyone waiting on it.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let woken = self.lock().take_all();
        woken.iter().for_each(Unparker::unpark);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Removes the descriptor from its poller, here and now whatever thread this is (so that
    /// the descriptor can be closed, or registered again elsewhere), and hands the token back to
    /// the polling hub, which frees it after its next poll. Called when the last handle goes
    /// away, before the descriptor is closed, and when the inner object is taken back.
    pub(crate) fn release(&self) {
        let registration = self.lock().registration.take();
        let Some(Registration { hub, token }) = registration else {
            return;
        };
        // Failure changes nothing: a descriptor closed since is no longer registered anyway.
        let _ = hub.registrar().deregister(self.fd);
        hub.release_token(token);
    }
}
