//! `Event`: a flag green threads can wait for, like gevent's `Event`.

use super::waiters::{lock, Wait, WaitList};
use crate::loom::Mutex;
use std::time::{Duration, Instant};

struct State {
    set: bool,
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
    state: Mutex<State>,
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
            state: Mutex::new(State {
                set: false,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut state = lock(&self.state);
        state.set = true;
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

    /// Parks until the flag is set (returns at once if it is).
    pub fn wait(&self) {
        Wait::new(&self.state, |s| &mut s.waiters).until(|s| s.set.then_some(()));
    }

    /// Like [`wait`](Self::wait), for at most `timeout`. Returns whether the flag was set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        Wait::new(&self.state, |s| &mut s.waiters)
            .deadline(Instant::now().checked_add(timeout))
            .until(|s| s.set.then_some(()))
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
