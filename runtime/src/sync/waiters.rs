//! The one way every primitive in `greenhub::sync` waits: register, re-check, park, retry.
//!
//! State lives behind a short-held `std::sync::Mutex` (never held across a park); each primitive
//! keeps one [`WaitList`] per condition. A waiter that gives up (timeout, cancellation, an
//! expired `greenhub::timeout` scope) after it was already chosen to be woken passes the wake on,
//! so a wake-up is never lost with it.

use crate::GreenThread;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Green threads (or OS threads) waiting for one condition, first come first served.
///
/// Waiters are held as [`GreenThread`] handles, which count as "someone may still wake this
/// green thread" for the would-block-forever check: any holder of the primitive, an OS thread
/// included, can.
#[derive(Default)]
pub(crate) struct WaitList {
    waiters: VecDeque<(u64, GreenThread)>,
    next_id: u64,
}

impl WaitList {
    pub(crate) fn add(&mut self, who: GreenThread) -> u64 {
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

    /// Wakes the longest-waiting one. Returns whether there was one.
    pub(crate) fn wake_one(&mut self) -> bool {
        match self.waiters.pop_front() {
            Some((_, who)) => {
                who.unpark();
                true
            }
            None => false,
        }
    }

    pub(crate) fn wake_all(&mut self) {
        while self.wake_one() {}
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

pub(crate) fn lock<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Parks the current green thread or OS thread until woken or `deadline`.
pub(crate) fn park_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => {
            let now = Instant::now();
            if deadline > now {
                crate::park_timeout(deadline - now);
            }
        }
        None => crate::park(),
    }
}

/// Waits until `attempt` returns `Some`, registering in the list `list` picks out of the state
/// whenever it must wait. Returns `None` at the deadline.
pub(crate) fn wait_until<S, R>(
    mutex: &Mutex<S>,
    list: impl Fn(&mut S) -> &mut WaitList,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(&mut S) -> Option<R>,
) -> Option<R> {
    loop {
        let id = {
            let mut state = lock(mutex);
            if let Some(result) = attempt(&mut state) {
                return Some(result);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            list(&mut state).add(crate::current())
        };
        let guard = Registration::new(mutex, &list, id);
        park_until(deadline);
        guard.finish();
    }
}

/// Takes a waiter off its list when it stops waiting, however it stops.
pub(crate) struct Registration<'a, S, L: Fn(&mut S) -> &mut WaitList> {
    mutex: &'a Mutex<S>,
    list: &'a L,
    id: u64,
}

impl<'a, S, L: Fn(&mut S) -> &mut WaitList> Registration<'a, S, L> {
    /// Watches the waiter `id` that was added to `list(mutex)`.
    pub(crate) fn new(mutex: &'a Mutex<S>, list: &'a L, id: u64) -> Self {
        Registration { mutex, list, id }
    }

    /// After a wake (or timeout): leave the list quietly.
    pub(crate) fn finish(self) {
        let mut state = lock(self.mutex);
        (self.list)(&mut state).remove(self.id);
        std::mem::forget(self);
    }
}

impl<S, L: Fn(&mut S) -> &mut WaitList> Drop for Registration<'_, S, L> {
    /// Unwinding out of the wait (cancelled, or a timeout scope expired): if a wake was already
    /// spent on us, hand it to the next waiter.
    fn drop(&mut self) {
        let mut state = lock(self.mutex);
        let list = (self.list)(&mut state);
        if !list.remove(self.id) {
            list.wake_one();
        }
    }
}
