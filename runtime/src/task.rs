//! A green thread's shared header and the handles that can wake it.
//!
//! The header ([`Task`]) holds only what other threads may touch: the park state, the cancel
//! flag, the id and name, and the owning hub's wake queue. The coroutine itself lives in the
//! owning hub's slot table and never leaves that hub's OS thread, which is why `spawn` can take
//! closures that are not `Send`.

use crate::interrupt::Scope;
use crate::remote::HubShared;
use crate::wake_flags::RemoteWakeFlag;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// Something that wakes one waiter: a green thread or an OS thread (in loom models, a loom
/// thread). The waiter lists of `sync` and the join packet hold these.
pub(crate) trait Unpark {
    fn unpark(&self);
}

/// Park states. They are read and written only by the owning hub's thread, so plain loads and
/// stores suffice; wakes from other threads reach the hub through its remote queue first.
const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// The slot key of a green thread its hub has not registered yet (a `spawn_on` in flight).
pub(crate) const NO_KEY: u32 = u32::MAX;

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
    pub(crate) hub: Arc<HubShared>,
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
    /// tell (see `Hub::is_unwinding`). Per green thread because `std::thread::panicking()` is per
    /// OS thread: it is true for every green thread of a hub while one of them is suspended in
    /// the middle of an unwind. Owner-only, like `state`.
    unwinding: AtomicU32,
    /// The epoch of its hub's unwind count in which it was counted as suspended mid-unwind,
    /// 0 when it is not (see `crate::unwinding`). Owner-only.
    counted_epoch: AtomicU32,
    /// The innermost `timeout` scope in force: its deadline (see `crate::interrupt::Scope`)
    /// and id. Owner-only, like `state`.
    scope_deadline: AtomicU64,
    scope_id: AtomicU64,
    scope_depth: AtomicU32,
}

impl Task {
    pub(crate) fn new(name: Option<Box<str>>, hub: Arc<HubShared>) -> Task {
        Task {
            id: next_id(),
            name,
            key: AtomicU32::new(NO_KEY),
            hub,
            state: AtomicU8::new(EMPTY),
            remote_wake: RemoteWakeFlag::default(),
            cancel: AtomicBool::new(false),
            finishing: AtomicBool::new(false),
            unwinding: AtomicU32::new(0),
            counted_epoch: AtomicU32::new(0),
            scope_deadline: AtomicU64::new(Scope::NONE.deadline_nanos()),
            scope_id: AtomicU64::new(0),
            scope_depth: AtomicU32::new(0),
        }
    }

    /// Makes a finished task's header ready for a new green thread, reusing its allocation.
    pub(crate) fn reuse(&mut self, name: Option<Box<str>>) {
        self.id = next_id();
        self.name = name;
        *self.key.get_mut() = NO_KEY;
        *self.state.get_mut() = EMPTY;
        self.remote_wake.reset();
        *self.cancel.get_mut() = false;
        *self.finishing.get_mut() = false;
        *self.unwinding.get_mut() = 0;
        *self.counted_epoch.get_mut() = 0;
        *self.scope_deadline.get_mut() = Scope::NONE.deadline_nanos();
        *self.scope_id.get_mut() = Scope::NONE.id();
        *self.scope_depth.get_mut() = Scope::NONE.depth();
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
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

    /// On the owning hub: the task is about to suspend until notified.
    pub(crate) fn set_parked_local(&self) {
        self.state.store(PARKED, Ordering::Relaxed);
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

    /// On the owning hub: see `crate::unwinding`.
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
        self.cancel.load(Ordering::Relaxed)
            || self.scope_deadline.load(Ordering::Relaxed) != Scope::NONE.deadline_nanos()
    }

    /// Wakes the task from any thread: directly when called on its own hub, else through the
    /// hub's remote queue (at most one entry per task at a time).
    pub(crate) fn wake(self: &Arc<Self>) {
        if crate::hub::wake_if_local(self) {
            return;
        }
        if self.remote_wake.needs_entry() {
            self.hub
                .push_remote(crate::remote::Remote::Wake(self.clone()));
        }
    }
}

/// A unique identifier of a green thread (or of an OS thread seen through [`current`]).
///
/// [`current`]: crate::current
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenThreadId(NonZeroU64);

impl GreenThreadId {
    /// The id as a number, unique for the life of the process.
    pub fn as_u64(&self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for GreenThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GreenThreadId({})", self.0)
    }
}

impl fmt::Display for GreenThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn make_id(n: u64) -> GreenThreadId {
    GreenThreadId(NonZeroU64::new(n).expect("ids start at 1"))
}

impl Unpark for Unparker {
    fn unpark(&self) {
        Unparker::unpark(self)
    }
}

impl Unpark for GreenThread {
    fn unpark(&self) {
        self.inner.unpark()
    }
}

/// Something that can be woken: a green thread, or an OS thread blocked in `std::thread::park`.
///
/// This internal form does not count towards "someone could still wake this runtime" (see
/// [`GreenThread`]); it is used where the wake can only come from inside the runtime, such as a
/// join waiter woken by the joined green thread's own completion.
#[derive(Clone)]
pub(crate) enum Unparker {
    Green(Arc<Task>),
    Os(std::thread::Thread),
}

impl Unparker {
    pub(crate) fn current() -> Unparker {
        match crate::hub::current_task() {
            Some(task) => Unparker::Green(task),
            None => Unparker::Os(std::thread::current()),
        }
    }

    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Green(task) => task.wake(),
            Unparker::Os(thread) => thread.unpark(),
        }
    }

    /// Whether both wake the same green thread or OS thread.
    pub(crate) fn same(&self, other: &Unparker) -> bool {
        match (self, other) {
            (Unparker::Green(a), Unparker::Green(b)) => Arc::ptr_eq(a, b),
            (Unparker::Os(a), Unparker::Os(b)) => a.id() == b.id(),
            _ => false,
        }
    }
}

/// A handle to a green thread (or, outside any hub, to the current OS thread), returned by
/// [`current`](crate::current).
///
/// Its main use is [`unpark`](GreenThread::unpark), which works from any OS thread or hub. While
/// a `GreenThread` handle exists, the runtime assumes its green thread might be woken through it,
/// so the "would block forever" check in [`run`](crate::run) stays quiet.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let me = greenhub::current();
///     let waker = std::thread::spawn(move || me.unpark());
///     greenhub::park(); // returns once the OS thread has unparked us (or spuriously)
///     waker.join().unwrap();
/// });
/// ```
pub struct GreenThread {
    inner: Unparker,
    id: GreenThreadId,
}

thread_local! {
    static OS_THREAD_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl GreenThread {
    pub(crate) fn current() -> GreenThread {
        match crate::hub::current_task() {
            Some(task) => GreenThread::of_task(task),
            None => {
                let id = OS_THREAD_ID.with(|cell| {
                    if cell.get() == 0 {
                        cell.set(next_id());
                    }
                    cell.get()
                });
                GreenThread {
                    id: make_id(id),
                    inner: Unparker::Os(std::thread::current()),
                }
            }
        }
    }

    pub(crate) fn of_task(task: Arc<Task>) -> GreenThread {
        task.hub.external_waker_added();
        GreenThread {
            id: make_id(task.id),
            inner: Unparker::Green(task),
        }
    }

    /// Wakes the green thread if it is parked; otherwise its next [`park`](crate::park) returns
    /// at once. Works from any hub or OS thread.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let me = greenhub::current();
    ///     me.unpark();
    ///     greenhub::park(); // the token is already there: returns immediately
    /// });
    /// ```
    pub fn unpark(&self) {
        self.inner.unpark();
    }

    /// The green thread's unique id.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let a = greenhub::spawn(|| greenhub::current().id()).join().unwrap();
    ///     assert_ne!(a, greenhub::current().id());
    /// });
    /// ```
    pub fn id(&self) -> GreenThreadId {
        self.id
    }

    /// The name given with [`Builder::name`](crate::Builder::name), if any. The green thread
    /// that runs the closure given to [`run`](crate::run) is called `main`.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| assert_eq!(greenhub::current().name(), Some("main")));
    /// ```
    pub fn name(&self) -> Option<&str> {
        match &self.inner {
            Unparker::Green(task) => task.name(),
            Unparker::Os(thread) => thread.name(),
        }
    }
}

impl Clone for GreenThread {
    fn clone(&self) -> GreenThread {
        if let Unparker::Green(task) = &self.inner {
            task.hub.external_waker_added();
        }
        GreenThread {
            inner: self.inner.clone(),
            id: self.id,
        }
    }
}

impl Drop for GreenThread {
    fn drop(&mut self) {
        if let Unparker::Green(task) = &self.inner {
            task.hub.external_waker_dropped();
        }
    }
}

impl fmt::Debug for GreenThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenThread")
            .field("id", &self.id)
            .field("name", &self.name())
            .finish()
    }
}
