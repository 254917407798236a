//! `Semaphore`: bounds how many green threads do something at once.

use super::waiters::{lock, Wait, WaitList};
use crate::sync::state_lock::StateLock;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct State {
    permits: usize,
    waiters: WaitList,
}

/// A counting semaphore. [`acquire`](Semaphore::acquire) parks until a permit is free and
/// returns a guard that gives it back when dropped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// greenhub::run(|| {
///     let two_at_a_time = Arc::new(greenhub::sync::Semaphore::new(2));
///     let workers: Vec<_> = (0..6)
///         .map(|_| {
///             let sem = two_at_a_time.clone();
///             greenhub::spawn(move || {
///                 let _permit = sem.acquire();
///                 greenhub::sleep(std::time::Duration::from_millis(1));
///             })
///         })
///         .collect();
///     workers.into_iter().for_each(|w| w.join().unwrap());
///     assert_eq!(two_at_a_time.available(), 2);
/// });
/// ```
pub struct Semaphore {
    state: StateLock<State>,
}

/// A permit of a [`Semaphore`], released when dropped.
#[must_use = "the permit is released as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: StateLock::new(State {
                permits,
                waiters: WaitList::default(),
            }),
        }
    }

    fn take(state: &mut State) -> Option<()> {
        (state.permits > 0).then(|| state.permits -= 1)
    }

    /// Parks until a permit is free and takes it.
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        Wait::new(&self.state, |s| &mut s.waiters).until(Semaphore::take);
        SemaphoreGuard { semaphore: self }
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        Semaphore::take(&mut lock(&self.state)).map(|()| SemaphoreGuard { semaphore: self })
    }

    /// Like [`acquire`](Self::acquire), for at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        Wait::new(&self.state, |s| &mut s.waiters)
            .deadline(Instant::now().checked_add(timeout))
            .until(Semaphore::take)
            .map(|()| SemaphoreGuard { semaphore: self })
    }

    /// Adds a permit (or gives one back) and wakes a waiter.
    pub fn release(&self) {
        let mut state = lock(&self.state);
        state.permits += 1;
        state.waiters.wake_one();
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        lock(&self.state).permits
    }
}

/// A permit that owns its semaphore, so it can move into a green thread's closure: dropping the
/// closure, run or not, gives the permit back (`Pool` and `StreamServer` rely on that).
pub(crate) struct OwnedPermit(Arc<Semaphore>);

impl Semaphore {
    /// [`acquire`](Self::acquire), for a permit that outlives the borrow of the semaphore.
    pub(crate) fn acquire_owned(self: &Arc<Self>) -> OwnedPermit {
        std::mem::forget(self.acquire());
        OwnedPermit(self.clone())
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}
