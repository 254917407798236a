//! What other threads see of a hub ([`HubShared`]: its remote queue of wakes, spawns and
//! released descriptors, and the waker that ends its poll) and of the runtime
//! ([`RuntimeShared`]: every hub's shared half).
//!
//! The queue closes when its hub stops for good. Work handed to a closed queue is dealt with at
//! once by whoever hands it over: a spawn is dropped unstarted (its join reports "cancelled"), a
//! wake or a release has nothing left to do. So nothing is ever stranded in a queue that no
//! hub will read again.

use super::liveness::{HubFlags, Liveness};
use super::{with_hub, Hub};
use crate::driver::PollingHub;
use crate::reactor::{Registrar, Waker};
use crate::task::{Home, Task};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What every hub of one runtime shares.
pub(crate) struct RuntimeShared {
    pub(crate) hubs: Vec<Arc<HubShared>>,
    pub(crate) stack_size: usize,
    /// When set, the blocking detector reports green threads that run longer than this.
    pub(crate) blocking_threshold: Option<Duration>,
}

/// Work that other threads hand to a hub.
pub(crate) enum Remote {
    /// Make this (parked) green thread runnable.
    Wake(Arc<Task>),
    /// Start a green thread on this hub (`spawn_on`).
    Spawn(Box<dyn RemoteSpawn>),
    /// A descriptor this hub polled was released on another thread (and already removed from
    /// the poller there): free its token after the next poll.
    ReleaseSource(usize),
    /// Call this with the hub, from its loop (`greenhub::threads` asks for a snapshot). Dropped
    /// uncalled when the hub has stopped.
    Visit(Box<dyn FnOnce(&Hub) + Send>),
}

/// A green thread another thread asked a hub to start. Dropping it unstarted must complete its
/// join packet ("cancelled"), so that nobody waits for a green thread that will never exist.
pub(crate) trait RemoteSpawn: Send {
    fn start(self: Box<Self>, hub: &Hub);
}

struct RemoteQueue {
    items: Vec<Remote>,
    /// The hub stopped for good: nobody will take items again.
    closed: bool,
}

/// The part of a hub that other threads use to hand it work.
pub(crate) struct HubShared {
    pub(crate) index: usize,
    queue: Mutex<RemoteQueue>,
    waker: Waker,
    /// Removes descriptors from this hub's poller from any thread.
    pub(crate) registrar: Registrar,
    pub(crate) liveness: Arc<Liveness>,
    /// For the blocking detector (only kept up to date when it is on): the green thread
    /// running now and since when.
    running: Mutex<Option<(Arc<Task>, Instant)>>,
    /// The hub stopped for good: its poller reports nothing any more.
    stopped: AtomicBool,
}

impl HubShared {
    pub(crate) fn new(
        index: usize,
        waker: Waker,
        registrar: Registrar,
        liveness: Arc<Liveness>,
    ) -> HubShared {
        HubShared {
            index,
            queue: Mutex::new(RemoteQueue {
                items: Vec::new(),
                closed: false,
            }),
            waker,
            registrar,
            liveness,
            running: Mutex::new(None),
            stopped: AtomicBool::new(false),
        }
    }

    /// Whether the hub has stopped for good (see `close_remote`).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn flags(&self) -> &HubFlags {
        self.liveness.flags(self.index)
    }

    /// For the blocking detector: the green thread running now and since when.
    pub(crate) fn running(&self) -> Option<(Arc<Task>, Instant)> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_running(&self, running: Option<(Arc<Task>, Instant)>) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = running;
    }

    /// Whether this is the shared half of the hub running on the calling thread; if so, calls
    /// `f` with that hub.
    fn with_own_hub<R>(&self, f: impl FnOnce(&Hub) -> R) -> Option<R> {
        with_hub(|hub| std::ptr::eq(&*hub.shared, self).then(|| f(hub))).flatten()
    }

    fn lock(&self) -> MutexGuard<'_, RemoteQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `work` to the hub and wakes it if it sleeps. When the hub has stopped for good the
    /// work is dropped here instead (see the module doc).
    pub(crate) fn push_remote(&self, work: Remote) {
        let mut queue = self.lock();
        if queue.closed {
            drop(queue);
            drop(work);
            return;
        }
        // Leave the idle state before the work is visible, so that no idleness check can see
        // this hub idle while it has work to do.
        self.liveness.leave_idle(self.index);
        queue.items.push(work);
        drop(queue);
        if self.flags().handshake.notify() {
            // A failed eventfd write cannot be reported to the waker; the hub still sees the
            // notification the next time it wakes for any other reason.
            let _ = self.waker.wake();
        }
    }

    /// Takes everything queued so far.
    pub(crate) fn take_remote(&self) -> Vec<Remote> {
        std::mem::take(&mut self.lock().items)
    }

    /// The hub stops for good: closes the queue and returns what was still in it.
    pub(crate) fn close_remote(&self) -> Vec<Remote> {
        self.stopped.store(true, Ordering::Release);
        let mut queue = self.lock();
        queue.closed = true;
        std::mem::take(&mut queue.items)
    }

    pub(crate) fn wake_up(&self) {
        let _ = self.waker.wake();
    }
}

impl Home for HubShared {
    fn wake(&self, task: &Arc<Task>) -> bool {
        if self.with_own_hub(|hub| hub.wake_task_here(task)).is_some() {
            return true;
        }
        if self.is_stopped() {
            // Given up when its hub stopped: nobody will ever run it.
            return false;
        }
        if task.needs_remote_wake_entry() {
            self.push_remote(Remote::Wake(task.clone()));
        }
        true
    }

    fn has_stopped(&self) -> bool {
        self.is_stopped()
    }

    fn waker_handle_added(&self) {
        self.liveness.external_waker_added(self.index);
    }

    fn waker_handle_dropped(&self) {
        self.liveness.external_waker_dropped(self.index);
    }
}

impl PollingHub for HubShared {
    fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    fn is_stopped(&self) -> bool {
        HubShared::is_stopped(self)
    }

    fn release_token(&self, token: usize) {
        if self.with_own_hub(|hub| hub.io.release(token)).is_none() {
            self.push_remote(Remote::ReleaseSource(token));
        }
    }
}
