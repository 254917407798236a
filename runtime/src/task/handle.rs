//! Handles that wake a green thread: the public [`GreenThread`] and its id, and the internal
//! [`Unparker`] that the waiter lists of `sync` and the join packet hold.

use super::{next_id, Task};
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;

/// Something that wakes one waiter: a green thread or an OS thread (in loom models, a loom
/// thread). The waiter lists of `sync` and the join packet hold these.
pub(crate) trait Unpark {
    fn unpark(&self);

    /// Wakes the waiter and says whether it can still run: false for a green thread whose hub
    /// stopped for good while it waited (it was given up and will never look again), so that a
    /// waiter list passes such a wake on to the next waiter instead of losing it.
    fn wake_if_alive(&self) -> bool {
        self.unpark();
        true
    }

    /// Whether the waiter can still run: false for a green thread whose hub stopped for good
    /// (see [`wake_if_alive`](Self::wake_if_alive)).
    fn can_run(&self) -> bool {
        true
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

/// An id for an OS thread seen through [`current`](crate::current), from the same sequence as
/// green threads' ids.
pub(crate) fn new_os_thread_id() -> u64 {
    next_id()
}

pub(crate) fn make_id(n: u64) -> GreenThreadId {
    GreenThreadId(NonZeroU64::new(n).expect("ids start at 1"))
}

impl Unpark for Unparker {
    fn unpark(&self) {
        Unparker::unpark(self)
    }

    fn wake_if_alive(&self) -> bool {
        match self {
            Unparker::Green(task) => task.wake(),
            Unparker::Os(thread) => {
                thread.unpark();
                true
            }
        }
    }

    fn can_run(&self) -> bool {
        match self {
            Unparker::Green(task) => !task.home.has_stopped(),
            Unparker::Os(_) => true,
        }
    }
}

impl Unpark for GreenThread {
    fn unpark(&self) {
        self.inner.unpark()
    }

    fn wake_if_alive(&self) -> bool {
        self.inner.wake_if_alive()
    }

    fn can_run(&self) -> bool {
        self.inner.can_run()
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
    pub(crate) fn unpark(&self) {
        Unpark::wake_if_alive(self);
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
    /// Whether it counts as a handle through which the green thread might be woken. Handles in
    /// `sync` wait lists do not: their green thread is counted by its hub while it waits there.
    counted: bool,
}

impl GreenThread {
    /// A handle to the calling OS thread, under the id it was given (see [`new_os_thread_id`]).
    pub(crate) fn of_os_thread(id: u64) -> GreenThread {
        GreenThread {
            id: make_id(id),
            inner: Unparker::Os(std::thread::current()),
            counted: false,
        }
    }

    pub(crate) fn of_task(task: Arc<Task>) -> GreenThread {
        task.home.waker_handle_added();
        GreenThread {
            id: make_id(task.id),
            inner: Unparker::Green(task),
            counted: true,
        }
    }

    /// A handle for a `sync` wait list, which does not count towards "someone may still wake
    /// this green thread": the green thread's hub counts it while it is parked in the list
    /// (see `Hub::park_in_wait_list`), without touching a shared counter per wait.
    pub(crate) fn of_task_in_wait_list(task: Arc<Task>) -> GreenThread {
        GreenThread {
            id: make_id(task.id),
            inner: Unparker::Green(task),
            counted: false,
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
        if let (true, Unparker::Green(task)) = (self.counted, &self.inner) {
            task.home.waker_handle_added();
        }
        GreenThread {
            inner: self.inner.clone(),
            id: self.id,
            counted: self.counted,
        }
    }
}

impl Drop for GreenThread {
    fn drop(&mut self) {
        if let (true, Unparker::Green(task)) = (self.counted, &self.inner) {
            task.home.waker_handle_dropped();
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

/// In loom models a waiter is a loom thread.
#[cfg(all(test, loom))]
impl Unpark for ::loom::thread::Thread {
    fn unpark(&self) {
        ::loom::thread::Thread::unpark(self)
    }
}
