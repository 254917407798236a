//! `Event`: a flag green threads can wait for, like gevent's `Event`.

use super::waiters::{lock, Wait, WaitList};
use crate::sync::state_lock::StateLock;
use std::time::{Duration, Instant};

struct State {
    set: bool,
    /// Counts `set` calls, so that a waiter woken by a `set` returns even if `clear` came
    /// before it got to run (as Python's and gevent's events do).
    sets: u64,
    waiters: WaitList,
}

/// A flag that starts clear; [`wait`](Event::wait) parks until it is [`set`](Event::set).
/// Setting wakes every waiter; the flag stays set until [`clear`](Event::clear).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// greenhub::run(|| {
///     let ready = Arc::new(greenhub::sync::Event::new());
///     let waiters: Vec<_> = (0..3)
///         .map(|_| { let ready = ready.clone(); greenhub::spawn(move || ready.wait()) })
///         .collect();
///     ready.set();
///     waiters.into_iter().for_each(|w| w.join().unwrap());
///     assert!(ready.is_set());
/// });
/// ```
pub struct Event {
    state: StateLock<State>,
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl Event {
    /// A clear event.
    pub fn new() -> Event {
        Event {
            state: StateLock::new(State {
                set: false,
                sets: 0,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut state = lock(&self.state);
        state.set = true;
        state.sets += 1;
        state.waiters.wake_all();
    }

    /// Clears the flag; later waits park again.
    pub fn clear(&self) {
        lock(&self.state).set = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        lock(&self.state).set
    }

    /// Parks until the flag is set (returns at once if it is). A `set` that happens while it
    /// waits releases it even if the flag is cleared again before it runs.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Like [`wait`](Self::wait), for at most `timeout`. Returns whether the flag was set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut sets_before = None;
        Wait::new(&self.state, |s| &mut s.waiters)
            .deadline(deadline)
            .until(|s| {
                let before = *sets_before.get_or_insert(s.sets);
                (s.set || s.sets != before).then_some(())
            })
            .is_some()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
