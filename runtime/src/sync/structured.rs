//! Structured waiting: [`TaskSet`], a set of green threads that is waited for one at a time, in
//! the order they finish, and that cancels its members when it is dropped.
//!
//! ```text
//!   member finishes ─► outcome in its join packet ─► its id onto `finished`, wake a waiter
//!   join_next ─► wait (the one `sync` wait) until an id is there, take it, join that member:
//!                its outcome is already there, so the join cannot park, and nothing between
//!                taking the id and returning can unwind
//! ```

use super::state_lock::StateLock;
use super::waiters::{lock, Wait, WaitList};
use crate::JoinError;
use crate::JoinHandle;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// Members that have finished, in the order they did, and who waits for one.
#[derive(Default)]
struct Finished {
    ids: VecDeque<u64>,
    waiters: WaitList,
}

/// A set of green threads to wait for in the order they finish ([`join_next`](Self::join_next))
/// and to cancel together ([`cancel_all`](Self::cancel_all)), like tokio's `JoinSet` or Go's
/// `errgroup`.
///
/// The set owns its members: when it is dropped (by the green thread that owns it returning,
/// panicking, or unwinding because it was cancelled or its `timeout` expired), every member
/// still running is cancelled. So cancelling a green thread reaches the green threads it
/// spawned into a set it owns. The drop does not wait for them to finish unwinding; call
/// `cancel_all` and then `join_next` until `None` to wait.
///
/// Each member runs on the hub of the green thread that spawned it. A set is shared by
/// reference (`Rc`) among green threads of a hub; it moves to another thread only when `T` is
/// `Send`, as a `JoinHandle<T>` does.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenhub::sync::TaskSet;
///
/// greenhub::run(|| {
///     let set = TaskSet::new();
///     for ms in [30u64, 10, 20] {
///         set.spawn(move || {
///             greenhub::sleep(Duration::from_millis(ms));
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(done) = set.join_next() {
///         order.push(done.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub struct TaskSet<T> {
    members: RefCell<HashMap<u64, JoinHandle<T>>>,
    next_id: Cell<u64>,
    finished: Arc<StateLock<Finished>>,
}

impl<T: 'static> TaskSet<T> {
    /// An empty set.
    pub fn new() -> TaskSet<T> {
        TaskSet {
            members: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            finished: Arc::new(StateLock::new(Finished::default())),
        }
    }

    /// Starts `f` in a green thread on the current hub, as a member of the set.
    ///
    /// # Panics
    ///
    /// As [`spawn`](crate::spawn): outside a runtime, or when no stack can be mapped.
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() -> T + 'static,
    {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let finished = self.finished.clone();
        let handle = crate::thread::spawn_then(f, move || {
            let mut finished = lock(&finished);
            finished.ids.push_back(id);
            finished.waiters.wake_one();
        });
        self.members.borrow_mut().insert(id, handle);
    }

    /// Waits for whichever member finishes first and returns its outcome (its value, or how it
    /// panicked or was cancelled); `None` when the set has no members left.
    ///
    /// A cancellation point: a `join_next` that is cancelled or whose `timeout` expires before
    /// any member finished unwinds, and the member that finishes later stays in the set for the
    /// next `join_next`. One that finds a member finished returns it, even if it was cancelled
    /// meanwhile (the next park unwinds instead). Inside a hub it parks the calling green thread
    /// only.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let set = greenhub::sync::TaskSet::new();
    ///     set.spawn(|| -> u32 { panic!("one failed") });
    ///     assert!(set.join_next().unwrap().unwrap_err().is_panic());
    ///     assert!(set.join_next().is_none());
    /// });
    /// ```
    pub fn join_next(&self) -> Option<Result<T, JoinError>> {
        if self.members.borrow().is_empty() {
            return None;
        }
        let id = Wait::new(&*self.finished, |f: &mut Finished| &mut f.waiters)
            .until(|f| f.ids.pop_front())
            .expect("a wait without a deadline ends with a value");
        let member = self.members.borrow_mut().remove(&id);
        // Its outcome is in the packet before its id was queued: this join does not park.
        Some(member.expect("a finished member is in its set").join())
    }

    /// Cancels every member still running (see [`JoinHandle::cancel`]); each comes out of
    /// [`join_next`](Self::join_next) as cancelled, or with its result if it finished first.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let set = greenhub::sync::TaskSet::new();
    ///     set.spawn(|| greenhub::sleep(std::time::Duration::from_secs(3600)));
    ///     set.cancel_all();
    ///     assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel_all(&self) {
        for member in self.members.borrow().values() {
            member.cancel();
        }
    }

    /// How many members have not been returned by `join_next` yet.
    pub fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Whether `join_next` would return `None`.
    pub fn is_empty(&self) -> bool {
        self.members.borrow().is_empty()
    }
}

impl<T: 'static> Default for TaskSet<T> {
    fn default() -> TaskSet<T> {
        TaskSet::new()
    }
}

impl<T> Drop for TaskSet<T> {
    /// Cancels the members still running; their outcomes are dropped when they finish (a panic
    /// is reported on stderr, as for any green thread nobody joins).
    fn drop(&mut self) {
        for member in self.members.get_mut().values() {
            member.cancel();
        }
    }
}

impl<T> fmt::Debug for TaskSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet")
            .field("members", &self.members.borrow().len())
            .finish()
    }
}
