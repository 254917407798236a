//! What a green thread is, as every other part sees it: its shared header ([`Task`]), the
//! handles that wake it ([`GreenThread`], [`Unparker`]), and the values that can cut its waits
//! short (cancellation and deadline scopes).
//!
//! The header holds only what other threads may touch: the park state, the cancel flag, the id
//! and name, and the way to its hub ([`Home`]). The coroutine itself lives in the owning hub's
//! slot table and never leaves that hub's OS thread, which is why `spawn` can take closures that
//! are not `Send`. This is the bottom of the scheduler's layers: it knows no hub, only the
//! [`Home`] trait that the hub implements.

mod handle;
mod join_packet;
mod locals;
mod remote_wake;
mod scope;

pub(crate) use handle::{make_id, new_os_thread_id, Unpark, Unparker};
pub use handle::{GreenThread, GreenThreadId};
pub(crate) use join_packet::Packet;
pub(crate) use locals::LocalMap;
pub(crate) use remote_wake::RemoteWakeFlag;
pub(crate) use scope::{due, Cancelled, Interrupt, Scope, ScopeExpired};

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// The hub a green thread belongs to, as any thread sees it: where its wakes go, and who counts
/// the handles through which it might still be woken. The hub's shared half implements it; a
/// trait, so that the header sits below the hub and knows nothing of it.
pub(crate) trait Home: Send + Sync {
    /// Wakes `task`, one of this hub's green threads, from any thread: directly on the hub's
    /// own thread, else through its remote queue. Returns false when the hub has stopped for
    /// good, so the green thread can never run again (it was given up while it waited).
    fn wake(&self, task: &Arc<Task>) -> bool;

    /// Whether the hub has stopped for good: its green threads can never run again.
    fn has_stopped(&self) -> bool;

    /// A [`GreenThread`] handle to one of its green threads was made.
    fn waker_handle_added(&self);

    /// A [`GreenThread`] handle to one of its green threads was dropped.
    fn waker_handle_dropped(&self);
}

/// Park states. They are read and written only by the owning hub's thread, so plain loads and
/// stores suffice; wakes from other threads reach the hub through its remote queue first.
const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// What a parked green thread waits for, as far as its hub cheaply knows (see
/// [`Task::parked_on`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ParkedOn {
    /// `park`, a join, or anything else that parks directly.
    Park = 0,
    Sleep = 1,
    /// A `sync` primitive's wait list (channels, locks, `TaskSet::join_next`, ...).
    Sync = 2,
    /// I/O readiness or a job on the blocking pool.
    Outside = 3,
}

impl ParkedOn {
    fn from_u8(n: u8) -> ParkedOn {
        match n {
            1 => ParkedOn::Sleep,
            2 => ParkedOn::Sync,
            3 => ParkedOn::Outside,
            _ => ParkedOn::Park,
        }
    }
}

/// The slot key of a green thread its hub has not registered yet (a `spawn_on` in flight).
pub(crate) const UNREGISTERED: u32 = u32::MAX;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The part of a green thread that any thread may see.
pub(crate) struct Task {
    id: u64,
    name: Option<Box<str>>,
    /// The slot in the owning hub's table; set once the hub has registered the task.
    key: AtomicU32,
    /// The hub it lives on.
    pub(crate) home: Arc<dyn Home>,
    /// # Invariant
    /// Only the owning hub's thread reads or writes `state` (see the `*_local` methods).
    state: AtomicU8,
    /// Set while a wake from another thread sits in the hub's remote queue, so that a storm of
    /// remote unparks queues one entry, not one per call.
    remote_wake: RemoteWakeFlag,
    cancel: AtomicBool,
    /// Set once the green thread's function is done (returned, panicked, or was cancelled
    /// before it started): what remains, dropping its result, runs to completion and is never
    /// interrupted. Owner-only, like `state`.
    finishing: AtomicBool,
    /// Panics this green thread started and has not finished unwinding, as far as the hub can
    /// tell (see `crate::hub::unwinding`). Per green thread because `std::thread::panicking()` is per
    /// OS thread: it is true for every green thread of a hub while one of them is suspended in
    /// the middle of an unwind. Owner-only, like `state`.
    unwinding: AtomicU32,
    /// The epoch of its hub's unwind count in which it was counted as suspended mid-unwind,
    /// 0 when it is not (see `crate::hub::unwinding`). Owner-only.
    counted_epoch: AtomicU32,
    /// The innermost `timeout` scope in force: its deadline (see [`Scope`])
    /// and id. Owner-only, like `state`.
    scope_deadline: AtomicU64,
    scope_id: AtomicU64,
    scope_depth: AtomicU32,
    /// When it last parked, on its hub's coarse clock (`crate::sys::coarse_now_nanos`), and on
    /// what: for `greenhub::threads()`. Owner-only, like `state`.
    parked_at: AtomicU64,
    parked_on: AtomicU8,
    /// Where the green thread leaves its outcome for its join handle: in the header, so that
    /// a spawn that reuses a spare header allocates nothing.
    join: Packet<Unparker>,
}

impl Task {
    pub(crate) fn new(name: Option<Box<str>>, home: Arc<dyn Home>) -> Task {
        Task {
            id: next_id(),
            name,
            key: AtomicU32::new(UNREGISTERED),
            home,
            state: AtomicU8::new(EMPTY),
            remote_wake: RemoteWakeFlag::default(),
            cancel: AtomicBool::new(false),
            finishing: AtomicBool::new(false),
            unwinding: AtomicU32::new(0),
            counted_epoch: AtomicU32::new(0),
            scope_deadline: AtomicU64::new(Scope::NONE.deadline_nanos()),
            scope_id: AtomicU64::new(0),
            scope_depth: AtomicU32::new(0),
            parked_at: AtomicU64::new(0),
            parked_on: AtomicU8::new(ParkedOn::Park as u8),
            join: Packet::new(),
        }
    }

    /// Makes a finished task's header ready for a new green thread, reusing its allocation.
    pub(crate) fn reuse(&mut self, name: Option<Box<str>>) {
        self.id = next_id();
        self.name = name;
        *self.key.get_mut() = UNREGISTERED;
        *self.state.get_mut() = EMPTY;
        self.remote_wake.reset();
        *self.cancel.get_mut() = false;
        *self.finishing.get_mut() = false;
        *self.unwinding.get_mut() = 0;
        *self.counted_epoch.get_mut() = 0;
        *self.scope_deadline.get_mut() = Scope::NONE.deadline_nanos();
        *self.scope_id.get_mut() = Scope::NONE.id();
        *self.scope_depth.get_mut() = Scope::NONE.depth();
        *self.parked_at.get_mut() = 0;
        *self.parked_on.get_mut() = ParkedOn::Park as u8;
        self.join.reset();
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the green thread leaves its outcome (see [`Packet`]).
    pub(crate) fn join_packet(&self) -> &Packet<Unparker> {
        &self.join
    }

    pub(crate) fn key(&self) -> u32 {
        self.key.load(Ordering::Relaxed)
    }

    pub(crate) fn set_key(&self, key: u32) {
        self.key.store(key, Ordering::Relaxed);
    }

    /// On the owning hub: makes a wake-up available. Returns true when the task was parked, in
    /// which case the caller must put it on the run queue.
    pub(crate) fn notify_local(&self) -> bool {
        let was_parked = self.state.load(Ordering::Relaxed) == PARKED;
        self.state.store(NOTIFIED, Ordering::Relaxed);
        was_parked
    }

    /// On the owning hub: consumes an available wake-up, if any.
    pub(crate) fn take_notification_local(&self) -> bool {
        let notified = self.state.load(Ordering::Relaxed) == NOTIFIED;
        if notified {
            self.state.store(EMPTY, Ordering::Relaxed);
        }
        notified
    }

    /// On the owning hub: the task is about to suspend until notified, since `at` (coarse
    /// clock nanoseconds).
    #[inline]
    pub(crate) fn set_parked_local(&self, at: u64) {
        self.state.store(PARKED, Ordering::Relaxed);
        self.parked_at.store(at, Ordering::Relaxed);
    }

    /// On the owning hub: what the task's parks wait for from now on; returns what they waited
    /// for until now.
    pub(crate) fn replace_parked_on(&self, on: ParkedOn) -> ParkedOn {
        ParkedOn::from_u8(self.parked_on.swap(on as u8, Ordering::Relaxed))
    }

    /// On the owning hub: whether the task is suspended until notified.
    pub(crate) fn is_parked_local(&self) -> bool {
        self.state.load(Ordering::Relaxed) == PARKED
    }

    /// On the owning hub: since when (coarse clock nanoseconds) and on what the task last
    /// parked.
    pub(crate) fn parked_on(&self) -> (u64, ParkedOn) {
        (
            self.parked_at.load(Ordering::Relaxed),
            ParkedOn::from_u8(self.parked_on.load(Ordering::Relaxed)),
        )
    }

    /// On the owning hub, after resuming from a park: the wake-up that resumed us is consumed.
    pub(crate) fn finish_park_local(&self) {
        self.state.store(EMPTY, Ordering::Relaxed);
    }

    /// Called by the hub when it takes this task's wake out of the remote queue.
    pub(crate) fn clear_remote_wake(&self) {
        self.remote_wake.entry_taken();
    }

    /// On the owning hub: the green thread's function is done; nothing interrupts it any more.
    pub(crate) fn set_finishing(&self) {
        self.finishing.store(true, Ordering::Relaxed);
    }

    /// On the owning hub: see [`set_finishing`](Self::set_finishing).
    pub(crate) fn is_finishing(&self) -> bool {
        self.finishing.load(Ordering::Relaxed)
    }

    /// On the owning hub: how many unwinds this green thread is known to be in.
    pub(crate) fn unwinding(&self) -> u32 {
        self.unwinding.load(Ordering::Relaxed)
    }

    /// On the owning hub: see `crate::hub::unwinding`.
    pub(crate) fn counted_epoch(&self) -> u32 {
        self.counted_epoch.load(Ordering::Relaxed)
    }

    pub(crate) fn set_counted_epoch(&self, epoch: u32) {
        self.counted_epoch.store(epoch, Ordering::Relaxed);
    }

    /// On the owning hub: records the number of unwinds this green thread is in.
    pub(crate) fn set_unwinding(&self, depth: u32) {
        self.unwinding.store(depth, Ordering::Relaxed);
    }

    /// On the owning hub: the innermost timeout scope.
    #[inline]
    pub(crate) fn scope(&self) -> Scope {
        Scope::from_parts(
            self.scope_deadline.load(Ordering::Relaxed),
            self.scope_id.load(Ordering::Relaxed),
            self.scope_depth.load(Ordering::Relaxed),
        )
    }

    /// On the owning hub: installs a timeout scope (or restores the enclosing one).
    #[inline]
    pub(crate) fn set_scope(&self, scope: Scope) {
        self.scope_deadline
            .store(scope.deadline_nanos(), Ordering::Relaxed);
        self.scope_id.store(scope.id(), Ordering::Relaxed);
        self.scope_depth.store(scope.depth(), Ordering::Relaxed);
    }

    pub(crate) fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Release);
    }

    pub(crate) fn is_cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// On the owning hub: whether a cancellation or a `timeout` scope could interrupt the green
    /// thread now; false on the fast path of every park (no cancel, no scope), which then
    /// needs nothing else.
    #[inline]
    pub(crate) fn may_be_interrupted(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.in_scope()
    }

    /// On the owning hub: whether a `timeout` scope is in force.
    #[inline]
    pub(crate) fn in_scope(&self) -> bool {
        self.scope_deadline.load(Ordering::Relaxed) != Scope::NONE.deadline_nanos()
    }

    /// Wakes the task from any thread: directly when called on its own hub, else through the
    /// hub's remote queue (at most one entry per task at a time). False when its hub has
    /// stopped for good (see [`Home::wake`]).
    pub(crate) fn wake(self: &Arc<Self>) -> bool {
        self.home.wake(self)
    }

    /// From another thread: whether this wake must queue an entry in the hub's remote queue
    /// (none is there yet).
    pub(crate) fn needs_remote_wake_entry(&self) -> bool {
        self.remote_wake.needs_entry()
    }

    /// Whether the green thread lives on the hub whose shared half is `home`.
    pub(crate) fn lives_on<H: Home>(&self, home: &H) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.home), home as *const H)
    }
}
