//! `WaitGroup`: wait until a number of tasks have finished, like Go's `sync.WaitGroup`.

use super::waiters::{lock, Wait, WaitList};
use crate::sync::state_lock::StateLock;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct State {
    count: usize,
    waiters: WaitList,
}

/// Counts outstanding work; [`wait`](WaitGroup::wait) parks until the count is zero. Each
/// clone adds one to the count and dropping it takes one away, so handing a clone to each
/// worker is all it takes.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let group = greenhub::sync::WaitGroup::new();
///     for n in 0..5 {
///         let member = group.clone();
///         greenhub::spawn(move || {
///             greenhub::sleep(std::time::Duration::from_millis(n));
///             drop(member); // done
///         });
///     }
///     group.wait(); // returns once all five have dropped their clone
/// });
/// ```
pub struct WaitGroup {
    shared: Arc<StateLock<State>>,
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl WaitGroup {
    /// A group counting one: this handle.
    pub fn new() -> WaitGroup {
        WaitGroup {
            shared: Arc::new(StateLock::new(State {
                count: 1,
                waiters: WaitList::default(),
            })),
        }
    }

    /// Drops this handle's count and parks until every other handle is gone too.
    pub fn wait(self) {
        let shared = self.shared.clone();
        drop(self);
        Wait::new(&shared, |s| &mut s.waiters).until(|s| (s.count == 0).then_some(()));
    }

    /// Like [`wait`](Self::wait), for at most `timeout`; returns whether the count reached zero.
    pub fn wait_timeout(self, timeout: Duration) -> bool {
        let shared = self.shared.clone();
        drop(self);
        Wait::new(&shared, |s| &mut s.waiters)
            .deadline(Instant::now().checked_add(timeout))
            .until(|s| (s.count == 0).then_some(()))
            .is_some()
    }

    /// How many handles are alive.
    pub fn count(&self) -> usize {
        lock(&self.shared).count
    }
}

impl Clone for WaitGroup {
    fn clone(&self) -> WaitGroup {
        lock(&self.shared).count += 1;
        WaitGroup {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for WaitGroup {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.count -= 1;
        if state.count == 0 {
            state.waiters.wake_all();
        }
    }
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}
