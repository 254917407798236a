//! A set of running green threads that can be waited for and cancelled together; the
//! bookkeeping behind `Pool` and `StreamServer`.

use super::waiters::{lock, wait_until, WaitList};
use crate::join::Canceller;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Default)]
struct State {
    running: usize,
    cancellers: HashMap<u64, Canceller>,
    next_id: u64,
    idle_waiters: WaitList,
}

/// Green threads started through [`TaskSet::spawn`], until each finishes.
#[derive(Default)]
pub(crate) struct TaskSet {
    state: Mutex<State>,
}

/// One tracked green thread's place in its set; dropping it (when the green thread finishes,
/// however it finishes) takes the green thread out.
pub(crate) struct Membership {
    set: Arc<TaskSet>,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = lock(&self.set.state);
        state.running -= 1;
        state.cancellers.remove(&self.id);
        if state.running == 0 {
            state.idle_waiters.wake_all();
        }
    }
}

impl TaskSet {
    /// Counts a green thread about to start; move the membership into it.
    pub(crate) fn enter(self: &Arc<Self>) -> Membership {
        let mut state = lock(&self.state);
        state.running += 1;
        state.next_id += 1;
        Membership {
            set: self.clone(),
            id: state.next_id,
        }
    }

    /// Remembers how to cancel the green thread that holds membership `id`.
    pub(crate) fn watch<T>(&self, id: u64, handle: &crate::JoinHandle<T>) {
        let mut state = lock(&self.state);
        // A green thread on another hub may already be done; then there is nothing to cancel.
        if !handle.is_finished() {
            state.cancellers.insert(id, handle.canceller());
        }
    }

    pub(crate) fn running(&self) -> usize {
        lock(&self.state).running
    }

    /// Parks until no tracked green thread runs, or the deadline; returns whether none runs.
    pub(crate) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        wait_until(
            &self.state,
            |s| &mut s.idle_waiters,
            deadline,
            |s| (s.running == 0).then_some(()),
        )
        .is_some()
    }

    /// Cancels every tracked green thread; returns how many were asked to stop.
    pub(crate) fn cancel_all(&self) -> usize {
        let state = lock(&self.state);
        state.cancellers.values().for_each(Canceller::cancel);
        state.cancellers.len()
    }
}

impl Membership {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}
