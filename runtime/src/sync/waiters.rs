//! The one way every primitive in `greenhub::sync` waits: try, check for an interruption,
//! register, park, retry.
//!
//! State lives behind a short-held lock (a `StateLock`, biased to the thread that made the
//! primitive, and never held across a park); each primitive keeps one [`WaitList`] per
//! condition.
//!
//! ```text
//!   lock ─► attempt() ─ Some ─────────────────────────────► return it (it took effect)
//!            │ None
//!            ├─ deadline passed? ─────────────────────────► return None
//!            ├─ cancelled / timeout scope expired? ─ undo() ► unlock, unwind
//!            └─ join the wait list ─ unlock ─ park ─ leave the list ─┐
//!   ▲                                                                │
//!   └────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The interruption is checked under the same lock as the attempt, never after a wake: a waiter
//! woken because its operation can now complete completes it, and one interrupted mid-way (a
//! rendezvous send whose value is in the channel) undoes it atomically with the decision.
//!
//! A waiter taken off its list to be woken (chosen) that then leaves without looking (it
//! unwinds) passes the wake on to the next waiter, so a wake-up is never lost with it; one that
//! was not chosen passes nothing on, so a wake is never duplicated into a livelock. The lists and
//! that hand-off are model-checked with loom (see `crate::loom`).

use super::state_lock::{StateGuard, StateLock};
use crate::task::Unpark;
use crate::GreenThread;
use std::collections::VecDeque;
use std::time::Instant;

/// Green threads (or OS threads) waiting for one condition, first come first served.
///
/// Any holder of the primitive, an OS thread included, may still wake a green thread waiting
/// here, so such a wait must never be taken for a deadlock. It is counted where it is cheap: a
/// green thread counts itself on its own hub while it parks here (see [`park_raw_until`]), and
/// the hub tells the would-block-forever check when it goes idle. So the list holds handles
/// made by [`GreenThread::for_wait_list`], which touch no shared counter when made or dropped
/// (`Select`'s watchers, which wait their own way, hold counted ones).
pub(crate) struct WaitList<W = GreenThread> {
    waiters: VecDeque<(u64, W)>,
    next_id: u64,
}

impl<W> Default for WaitList<W> {
    fn default() -> Self {
        WaitList {
            waiters: VecDeque::new(),
            next_id: 0,
        }
    }
}

impl<W: Unpark> WaitList<W> {
    pub(crate) fn add(&mut self, who: W) -> u64 {
        self.next_id += 1;
        self.waiters.push_back((self.next_id, who));
        self.next_id
    }

    /// Removes a waiter; false when it was already taken off to be woken.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        match self.waiters.iter().position(|(i, _)| *i == id) {
            Some(at) => {
                self.waiters.remove(at);
                true
            }
            None => false,
        }
    }

    /// Wakes the longest-waiting one that can still run. Returns whether there was one.
    ///
    /// A green thread given up while it waited (its runtime stopped with it parked in a
    /// destructor, say) never leaves the list by itself; its wake would be lost with it, so the
    /// wake goes to the next waiter. That matters for a primitive that outlives a runtime (a
    /// `static`, or one shared with a later runtime).
    #[inline]
    pub(crate) fn wake_one(&mut self) -> bool {
        match self.waiters.pop_front() {
            Some((_, who)) => who.wake_if_alive() || self.wake_one_after_a_gone_waiter(),
            None => false,
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_one_after_a_gone_waiter(&mut self) -> bool {
        while let Some((_, who)) = self.waiters.pop_front() {
            if who.wake_if_alive() {
                return true;
            }
        }
        false
    }

    /// Takes the longest-waiting one for which `chosen` returns true off the list, without
    /// waking it.
    pub(crate) fn take_first(&mut self, mut chosen: impl FnMut(&W) -> bool) -> Option<W> {
        let at = self.waiters.iter().position(|(_, who)| chosen(who))?;
        self.waiters.remove(at).map(|(_, who)| who)
    }

    /// The longest-waiting one, if it satisfies `chosen`.
    pub(crate) fn first_is(&self, chosen: impl FnOnce(&W) -> bool) -> bool {
        self.waiters.front().is_some_and(|(_, who)| chosen(who))
    }

    /// Takes the longest-waiting one off the list, without waking it.
    pub(crate) fn pop_first(&mut self) -> Option<W> {
        self.waiters.pop_front().map(|(_, who)| who)
    }

    pub(crate) fn wake_all(&mut self) {
        while self.wake_one() {}
    }

    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }
}

pub(crate) fn lock<S>(state: &StateLock<S>) -> StateGuard<'_, S> {
    state.lock()
}

/// Parks the current green thread or OS thread, which just joined a wait list, until woken or
/// `deadline`, without checking for an interruption (the caller did, under its lock). A green
/// thread counts as waiting on something any thread may do while it is parked here (see
/// [`WaitList`]).
pub(crate) fn park_raw_until(deadline: Option<Instant>) {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return;
    }
    crate::thread::park_raw_in_wait_list(deadline);
}

/// How a primitive waits: the lock of its state, the wait list to join (`list` picks it out of
/// the state), and an optional deadline.
pub(crate) struct Wait<'a, S, L> {
    mutex: &'a StateLock<S>,
    list: L,
    deadline: Option<Instant>,
}

impl<'a, S, L: Fn(&mut S) -> &mut WaitList> Wait<'a, S, L> {
    pub(crate) fn new(mutex: &'a StateLock<S>, list: L) -> Self {
        Wait {
            mutex,
            list,
            deadline: None,
        }
    }

    /// Gives up (returns `None`) once `deadline` has passed.
    pub(crate) fn deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Waits until `attempt` returns `Some`, and returns that; `None` at the deadline. Unwinds
    /// when the caller is cancelled or its timeout scope expires before the attempt succeeds.
    pub(crate) fn until<R>(&self, attempt: impl FnMut(&mut S) -> Option<R>) -> Option<R> {
        self.until_or_undo(attempt, |_| ())
    }

    /// [`until`](Self::until) for a wait whose operation is already half done: when the wait is
    /// interrupted, `undo` runs under the same lock as the failed attempt, then (lock released)
    /// what it returns is dropped and the unwind starts.
    pub(crate) fn until_or_undo<R, U>(
        &self,
        mut attempt: impl FnMut(&mut S) -> Option<R>,
        undo: impl FnOnce(&mut S) -> U,
    ) -> Option<R> {
        let mut undo = Some(undo);
        loop {
            let id = {
                let mut state = lock(self.mutex);
                if let Some(result) = attempt(&mut state) {
                    return Some(result);
                }
                if self.deadline.is_some_and(|d| Instant::now() >= d) {
                    return None;
                }
                if let Some(interrupt) = crate::hub::interrupt::pending() {
                    let undone = (undo.take().expect("a wait unwinds once"))(&mut state);
                    drop(state);
                    drop(undone);
                    interrupt.raise();
                }
                (self.list)(&mut state).add(GreenThread::for_wait_list())
            };
            let registration = Registration::new(self.mutex, &self.list, id);
            park_raw_until(self.deadline);
            registration.finish();
        }
    }
}

/// Takes a waiter off its list when it stops waiting, however it stops.
pub(crate) struct Registration<'a, S, L, W: Unpark = GreenThread>
where
    L: Fn(&mut S) -> &mut WaitList<W>,
{
    mutex: &'a StateLock<S>,
    list: &'a L,
    id: u64,
}

impl<'a, S, L, W: Unpark> Registration<'a, S, L, W>
where
    L: Fn(&mut S) -> &mut WaitList<W>,
{
    /// Watches the waiter `id` that was added to `list(mutex)`.
    pub(crate) fn new(mutex: &'a StateLock<S>, list: &'a L, id: u64) -> Self {
        Registration { mutex, list, id }
    }

    /// After a wake (or timeout): leaves the list quietly. Returns whether the waiter had been
    /// chosen, that is taken off the list by a waker.
    pub(crate) fn finish(self) -> bool {
        let chosen = {
            let mut state = lock(self.mutex);
            !(self.list)(&mut state).remove(self.id)
        };
        std::mem::forget(self);
        chosen
    }
}

impl<S, L, W: Unpark> Drop for Registration<'_, S, L, W>
where
    L: Fn(&mut S) -> &mut WaitList<W>,
{
    /// Leaving without looking (unwinding): a wake already spent on us goes to the next waiter.
    fn drop(&mut self) {
        let mut state = lock(self.mutex);
        let list = (self.list)(&mut state);
        if !list.remove(self.id) {
            list.wake_one();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use ::loom::sync::atomic::{AtomicBool, Ordering};
    use ::loom::sync::Arc;
    use ::loom::thread;

    struct Permits {
        free: usize,
        waiters: WaitList<thread::Thread>,
    }

    fn waiters(state: &mut Permits) -> &mut WaitList<thread::Thread> {
        &mut state.waiters
    }

    /// Waits for a permit; `leave_early` makes the waiter give up (as if cancelled) after its
    /// first park, without looking at the permits.
    fn acquire(permits: &StateLock<Permits>, leave_early: bool) -> bool {
        loop {
            let id = {
                let mut state = lock(permits);
                if state.free > 0 {
                    state.free -= 1;
                    return true;
                }
                state.waiters.add(thread::current())
            };
            let registration = Registration::new(permits, &waiters, id);
            thread::park();
            if leave_early {
                drop(registration); // unwinding out of the wait
                return false;
            }
            registration.finish();
        }
    }

    /// One permit is released while two green threads wait and one of them leaves (cancelled)
    /// right after being woken: the other still gets the permit (loom reports a deadlock if it
    /// could be left parked forever).
    #[test]
    fn loom_a_chosen_waiter_that_leaves_passes_its_wake_on() {
        crate::loom::model(|| {
            let permits = Arc::new(StateLock::new(Permits {
                free: 0,
                waiters: WaitList::default(),
            }));
            let stays = {
                let permits = permits.clone();
                thread::spawn(move || assert!(acquire(&permits, false)))
            };
            let left = Arc::new(AtomicBool::new(false));
            let leaves = {
                let (permits, left) = (permits.clone(), left.clone());
                thread::spawn(move || {
                    if acquire(&permits, true) {
                        // It got the permit before it ever waited: it gives it back.
                        let mut state = lock(&permits);
                        state.free += 1;
                        state.waiters.wake_one();
                    }
                    left.store(true, Ordering::Release);
                })
            };
            // The release: one permit, one wake.
            {
                let mut state = lock(&permits);
                state.free += 1;
                state.waiters.wake_one();
            }
            // The leaver may still be waiting for a wake that never comes (it was not chosen);
            // wake it once it can no longer matter, as its cancellation would.
            stays.join().unwrap();
            while !left.load(Ordering::Acquire) {
                lock(&permits).waiters.wake_all();
                thread::yield_now();
            }
            leaves.join().unwrap();
        });
    }
}
