//! `Mutex` and `Condvar` that park the green thread instead of blocking the OS thread.

use super::waiters::{lock, park_until, wait_until, Registration, WaitList};
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

struct LockState {
    locked: bool,
    waiters: WaitList,
}

/// A mutual-exclusion lock whose [`lock`](Mutex::lock) parks the calling green thread while
/// another holds it, so the hub keeps running. Unlike `std::sync::Mutex` it may be held across
/// parks (socket I/O, sleeps, channel operations) without stalling the hub.
///
/// It is not poisoned by panics: a green thread that panics while holding it releases it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// greenhub::run(|| {
///     let total = Arc::new(greenhub::sync::Mutex::new(0));
///     let adders: Vec<_> = (0..10)
///         .map(|_| {
///             let total = total.clone();
///             greenhub::spawn(move || {
///                 let mut guard = total.lock();
///                 let before = *guard;
///                 greenhub::yield_now(); // others run, but none gets the lock
///                 *guard = before + 1;
///             })
///         })
///         .collect();
///     adders.into_iter().for_each(|a| a.join().unwrap());
///     assert_eq!(*total.lock(), 10);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    state: StdMutex<LockState>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and `locked` admits one guard at a time,
// so sharing the mutex shares `T` only by handing it from one thread to another (T: Send).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the value; T: Send allows that.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            state: StdMutex::new(LockState {
                locked: false,
                waiters: WaitList::default(),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// Gives the value back.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    fn take(state: &mut LockState) -> Option<()> {
        (!state.locked).then(|| state.locked = true)
    }

    /// Parks until the lock is free, then takes it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        wait_until(&self.state, |s| &mut s.waiters, None, Mutex::<T>::take);
        MutexGuard { mutex: self }
    }

    /// Takes the lock if it is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        Mutex::<T>::take(&mut lock(&self.state)).map(|()| MutexGuard { mutex: self })
    }

    /// Like [`lock`](Self::lock), for at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        let deadline = Instant::now().checked_add(timeout);
        wait_until(&self.state, |s| &mut s.waiters, deadline, Mutex::<T>::take)
            .map(|()| MutexGuard { mutex: self })
    }

    /// The value, through exclusive access to the mutex itself.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn unlock(&self) {
        let mut state = lock(&self.state);
        state.locked = false;
        state.waiters.wake_one();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `locked`), so no `&mut T` exists elsewhere.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard is the only one and `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &lock(&self.state).locked)
            .finish()
    }
}

/// A condition variable for [`Mutex`]: [`wait`](Condvar::wait) releases the lock and parks
/// until notified, then takes the lock again. Spurious wake-ups are possible; wait in a loop.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use greenhub::sync::{Condvar, Mutex};
/// greenhub::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let other = pair.clone();
///     greenhub::spawn(move || {
///         *other.0.lock() = true;
///         other.1.notify_one();
///     });
///     let mut ready = pair.0.lock();
///     while !*ready {
///         ready = pair.1.wait(ready);
///     }
/// });
/// ```
pub struct Condvar {
    waiters: StdMutex<WaitList>,
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl Condvar {
    /// A new condition variable.
    pub fn new() -> Condvar {
        Condvar {
            waiters: StdMutex::new(WaitList::default()),
        }
    }

    /// Releases the lock, parks until notified (or spuriously), and locks again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until(guard, None).0
    }

    /// Like [`wait`](Self::wait), for at most `timeout`; also says whether time ran out.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        self.wait_until(guard, Instant::now().checked_add(timeout))
    }

    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = guard.mutex;
        // Registered before the lock is released, so a notify in between is not lost.
        let id = lock(&self.waiters).add(crate::current());
        fn whole_list(list: &mut WaitList) -> &mut WaitList {
            list
        }
        let registration = Registration::new(&self.waiters, &whole_list, id);
        drop(guard);
        park_until(deadline);
        registration.finish();
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        (mutex.lock(), timed_out)
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        lock(&self.waiters).wake_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        lock(&self.waiters).wake_all();
    }
}
