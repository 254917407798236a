//! A set of running green threads that can be waited for and cancelled together; the
//! bookkeeping behind `Pool` and `StreamServer`.

use super::waiters::{lock, Wait, WaitList};
use crate::sync::state_lock::StateLock;
use crate::thread::Canceller;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

struct State {
    /// Every member still running, with how to cancel it once `watch` said so. A member leaves
    /// when its `Membership` drops, so `watch` for a member that already left (it finished on
    /// another hub before its spawner got to `watch`) finds nothing and keeps nothing.
    members: HashMap<u64, Option<Canceller>>,
    next_id: u64,
    idle_waiters: WaitList,
}

/// Green threads counted in with [`TaskSet::enter`], until each one's `Membership` drops.
pub(crate) struct TaskSet {
    state: StateLock<State>,
}

impl Default for TaskSet {
    fn default() -> TaskSet {
        TaskSet {
            state: StateLock::new(State {
                members: HashMap::new(),
                next_id: 0,
                idle_waiters: WaitList::default(),
            }),
        }
    }
}

/// One tracked green thread's place in its set; dropping it (when the green thread finishes,
/// however it finishes, or when its closure is dropped without running) takes it out.
pub(crate) struct Membership {
    set: Arc<TaskSet>,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = lock(&self.set.state);
        state.members.remove(&self.id);
        if state.members.is_empty() {
            state.idle_waiters.wake_all();
        }
    }
}

impl TaskSet {
    /// Counts a green thread about to start; move the membership into it.
    pub(crate) fn enter(self: &Arc<Self>) -> Membership {
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = state.next_id;
        state.members.insert(id, None);
        Membership {
            set: self.clone(),
            id,
        }
    }

    /// Remembers how to cancel the green thread that holds membership `id`, if it still runs.
    pub(crate) fn watch<T>(&self, id: u64, handle: &crate::JoinHandle<T>) {
        let mut state = lock(&self.state);
        if let Some(canceller) = state.members.get_mut(&id) {
            *canceller = Some(handle.canceller());
        }
    }

    pub(crate) fn running(&self) -> usize {
        lock(&self.state).members.len()
    }

    /// Parks until no tracked green thread runs, or the deadline; returns whether none runs.
    pub(crate) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        Wait::new(&self.state, |s| &mut s.idle_waiters)
            .deadline(deadline)
            .until(|s| s.members.is_empty().then_some(()))
            .is_some()
    }

    /// Cancels every tracked green thread; returns how many were asked to stop.
    pub(crate) fn cancel_all(&self) -> usize {
        let state = lock(&self.state);
        let cancellers: Vec<&Canceller> = state.members.values().flatten().collect();
        cancellers.iter().for_each(|c| c.cancel());
        cancellers.len()
    }
}

impl Membership {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Finding 13 of the soundness review: a `spawn_on` member can finish on its hub (its
    /// membership drops) before its spawner calls `watch`. Then nothing may be kept for it:
    /// `cancel_all` used to count it and keep its canceller forever.
    #[test]
    fn a_member_that_finished_before_watch_is_neither_counted_nor_kept() {
        crate::run(|| {
            let set = Arc::new(TaskSet::default());
            let membership = set.enter();
            let id = membership.id();
            drop(membership); // it finished on another hub
            let unrelated = crate::spawn(|| crate::sleep(std::time::Duration::from_secs(3600)));
            set.watch(id, &unrelated);
            assert_eq!(set.running(), 0);
            assert_eq!(set.cancel_all(), 0, "a finished member was cancelled");
            assert!(lock(&set.state).members.is_empty());
            unrelated.cancel();
        });
    }
}
