//! `Mutex` and `Condvar` that park the green thread instead of blocking the OS thread.

use super::state_lock::StateLock;
use super::waiters::{lock, park_raw_until, Registration, Wait, WaitList};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
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
/// (A `std::sync::Mutex` is, and std decides that from a per-OS-thread panic count that
/// greenhub cannot change: while one green thread of a hub is suspended in the middle of an
/// unwind, a std guard that *any* green thread of that hub drops marks its mutex poisoned. This
/// mutex has no such problem.)
///
/// `Mutex<T>` is `Send` and `Sync` when `T: Send`, as std's is:
///
/// ```compile_fail
/// fn shared_between_threads<S: Sync>(_: &S) {}
/// shared_between_threads(&greenhub::sync::Mutex::new(std::rc::Rc::new(0)));
/// ```
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
    state: StateLock<LockState>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and `locked` admits one guard at a time,
// so sharing the mutex shares `T` only by handing it from one thread to another (T: Send).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the value; T: Send allows that.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
///
/// Like std's guard, it is `Sync` only when `T: Sync` (sharing `&guard` shares `&T`); unlike
/// std's it is `Send` when `T: Send`, because unlocking from another thread is fine here.
///
/// ```compile_fail
/// // A guard over a `Cell` must not be shared between threads.
/// fn shared_between_threads<S: Sync>(_: &S) {}
/// let mutex = greenhub::sync::Mutex::new(std::cell::Cell::new(0));
/// shared_between_threads(&mutex.lock());
/// ```
///
/// ```compile_fail
/// // Nor may a guard over an `Rc` move to another thread.
/// fn moved_to_another_thread<S: Send>(_: S) {}
/// let mutex = greenhub::sync::Mutex::new(std::rc::Rc::new(0));
/// moved_to_another_thread(mutex.lock());
/// ```
///
/// ```
/// fn shared_between_threads<S: Sync>(_: &S) {}
/// fn moved_to_another_thread<S: Send>(_: S) {}
/// let mutex = greenhub::sync::Mutex::new(0u32);
/// shared_between_threads(&mutex.lock());
/// moved_to_another_thread(mutex.lock());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// The guard hands out `&mut T`: its auto traits must be those of `&mut T` (Send needs
    /// `T: Send`); `Sync` is implemented below with std's bound.
    _value: PhantomData<&'a mut T>,
}

// SAFETY: `&MutexGuard` gives only `&T` (through `Deref`), so sharing the guard between threads
// shares `&T`, which `T: Sync` allows; this is std's bound for its own `MutexGuard`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            state: StateLock::new(LockState {
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

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            _value: PhantomData,
        }
    }

    /// Parks until the lock is free, then takes it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        Wait::new(&self.state, |s| &mut s.waiters).until(Mutex::<T>::take);
        self.guard()
    }

    /// Takes the lock if it is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        Mutex::<T>::take(&mut lock(&self.state)).map(|()| self.guard())
    }

    /// Like [`lock`](Self::lock), for at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        Wait::new(&self.state, |s| &mut s.waiters)
            .deadline(Instant::now().checked_add(timeout))
            .until(Mutex::<T>::take)
            .map(|()| self.guard())
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
    waiters: StateLock<WaitList>,
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
            waiters: StateLock::new(WaitList::default()),
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
        // A cancellation point before anything happened (the lock is still held, as std's
        // caller would expect if `wait` unwound).
        crate::hub::interrupt::check();
        // Registered before the lock is released, so a notify in between is not lost.
        let id = lock(&self.waiters).add(crate::GreenThread::for_wait_list());
        fn whole_list(list: &mut WaitList) -> &mut WaitList {
            list
        }
        let registration = Registration::new(&self.waiters, &whole_list, id);
        drop(guard);
        park_raw_until(deadline);
        let notified = registration.finish();
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        // Retaking the lock may park, and a wait for a lock can be interrupted. If that happens
        // after this waiter was chosen, the notification it consumed goes to another waiter.
        let pass_on = PassOnNotification {
            condvar: self,
            armed: notified,
        };
        let guard = mutex.lock();
        std::mem::forget(pass_on);
        (guard, timed_out)
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

/// Passes a consumed notification on when a notified waiter unwinds before it could return.
struct PassOnNotification<'a> {
    condvar: &'a Condvar,
    armed: bool,
}

impl Drop for PassOnNotification<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.condvar.notify_one();
        }
    }
}
