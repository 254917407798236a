//! The lock around every `sync` primitive's state, biased to the OS thread that made the
//! primitive: once that thread (its hub's green threads, which never run at once) has used it
//! alone a few dozen times, taking it is two plain stores and two plain loads, no atomic
//! read-modify-write; the first time another thread takes it, the bias is revoked for good and
//! everyone takes a mutex. A primitive that another thread uses before the bias (a reply channel
//! made for one request, say) is never biased and never pays for a revoke.
//!
//! ```text
//!  owner:   held = true ── compiler fence ── biased? ─ yes ─► critical section ─► held = false
//!                                              │ no
//!                                              └─ held = false ─► mutex
//!  owner, not yet biased: mutex ─ alone 64 times in a row? ─ yes ─► biased = true
//!  others:  mutex ─ biased? ─ yes ─► biased = false ─ process barrier ─ wait while held ─┐
//!                     │ no                                                               │
//!                     └──────────────────────────────────────────────► critical section ◄┘
//! ```
//!
//! The owner's `held` store and `biased` load are ordered only against the compiler; the revoker's
//! process-wide barrier ([`process_barrier`](super::process_barrier)) makes them ordered on the
//! owner's CPU too, at the one moment it matters. So either the owner saw the bias gone (and
//! takes the mutex), or its `held` is visible to the revoker, who waits for the section to end
//! (its release store of `held` publishes what the section wrote). A green thread never parks
//! inside a section, so that wait is as short as the section itself.
//!
//! The loom model (below) checks the handshake with a sequentially consistent fence on both
//! sides, which is what the barrier makes of the owner's compiler fence.

#[cfg(not(loom))]
use std::sync::atomic::compiler_fence;

use crate::loom::{AtomicBool, Mutex, MutexGuard, Ordering};
use std::ops::{Deref, DerefMut};

/// A primitive's state and the lock that guards it (see the module doc).
pub(crate) struct StateLock<S> {
    /// The OS thread that made the lock (see `identity`), the only one it may be biased to; 0
    /// where no process barrier is to be had, so it never is.
    owner: u64,
    /// While true, the owner skips the mutex. Set once, by the owner under the mutex; cleared
    /// for good by the first other thread that takes the mutex after.
    biased: AtomicBool,
    /// The owner is inside a critical section taken without the mutex.
    held: AtomicBool,
    mutex: Mutex<Bias>,
    state: Cell<S>,
}

/// When to bias, kept under the mutex.
#[derive(Default)]
struct Bias {
    /// Times in a row the owner took the mutex, no other thread having ever taken it.
    owner_streak: u32,
    /// Another thread has taken the lock: it is never biased again.
    shared: bool,
}

/// How many times in a row the owner takes the mutex before the lock is biased to it. A
/// primitive passed to another thread at once (a reply channel made for one request) is never
/// biased, so it never costs a revoke; one used in a loop on its hub is biased within its
/// first few dozen uses.
#[cfg(not(loom))]
const BIAS_AFTER: u32 = 64;
#[cfg(loom)]
const BIAS_AFTER: u32 = 1;

// SAFETY: the state is reached only through a guard, and the bias handshake (module doc) admits
// one guard at a time, as a mutex does; so sharing the lock moves `S` between threads (S: Send).
unsafe impl<S: Send> Sync for StateLock<S> {}

impl<S> StateLock<S> {
    /// A lock that may be biased to the calling OS thread once it has used it alone a while.
    pub(crate) fn new(state: S) -> StateLock<S> {
        StateLock {
            owner: if barrier_available() { identity() } else { 0 },
            biased: AtomicBool::new(false),
            held: AtomicBool::new(false),
            mutex: Mutex::new(Bias::default()),
            state: Cell::new(state),
        }
    }

    /// Locks the state: without the mutex on the owner's thread while the lock is biased.
    ///
    /// # Panics
    ///
    /// When the owner takes it again from inside its own critical section (a value's destructor
    /// that uses the primitive it is being dropped from): with a mutex that would deadlock.
    #[inline]
    pub(crate) fn lock(&self) -> StateGuard<'_, S> {
        let me = identity_if_known();
        if self.owner != 0 && self.owner == me {
            if self.held.load(Ordering::Relaxed) {
                reentered();
            }
            self.held.store(true, Ordering::Relaxed);
            owner_fence();
            if self.biased.load(Ordering::Relaxed) {
                return StateGuard {
                    access: self.state.access(),
                    mutex: None,
                    lock: self,
                };
            }
            self.held.store(false, Ordering::Release);
        }
        self.lock_with_mutex(me)
    }

    #[cold]
    #[inline(never)]
    fn lock_with_mutex(&self, me: u64) -> StateGuard<'_, S> {
        let mut bias = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        if self.owner == 0 || bias.shared {
            // Never biased again: the common case for a primitive shared between threads.
        } else if me != self.owner {
            bias.shared = true;
            // `biased` changes only under the mutex, so this is the one revoker.
            if self.biased.load(Ordering::Relaxed) {
                self.biased.store(false, Ordering::Relaxed);
                revoker_barrier();
                let mut spins = 0u32;
                while self.held.load(Ordering::Acquire) {
                    back_off(&mut spins);
                }
            }
        } else {
            bias.owner_streak += 1;
            if bias.owner_streak >= BIAS_AFTER && barrier_ready() {
                // The owner's next lock skips the mutex; another thread that takes the mutex
                // after this section sees the bias (the mutex orders it) and revokes it.
                self.biased.store(true, Ordering::Relaxed);
            }
        }
        StateGuard {
            access: self.state.access(),
            mutex: Some(bias),
            lock: self,
        }
    }
}

#[cold]
#[inline(never)]
fn reentered() -> ! {
    panic!("a greenhub::sync primitive was used from inside its own critical section (a destructor run under its lock?)")
}

/// Waits for an owner's critical section to end: it is short and never parks, but its OS thread
/// may have been preempted in the middle. Past a few yields it sleeps, so that an owner of lower
/// priority (which a yield never lets run under a real-time policy) gets the CPU to finish.
#[cfg(not(loom))]
fn back_off(spins: &mut u32) {
    *spins += 1;
    if *spins < 64 {
        std::hint::spin_loop();
    } else if *spins < 72 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// loom explores a spin loop only if it yields on every turn.
#[cfg(loom)]
fn back_off(_: &mut u32) {
    ::loom::thread::yield_now();
}

/// The state, locked.
pub(crate) struct StateGuard<'a, S> {
    access: Access<S>,
    /// `None` when taken on the owner's biased path (`held` is set instead).
    mutex: Option<MutexGuard<'a, Bias>>,
    lock: &'a StateLock<S>,
}

impl<S> Deref for StateGuard<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        // SAFETY: this guard is the only one (see `StateLock`), and it borrows the lock.
        unsafe { self.access.get() }
    }
}

impl<S> DerefMut for StateGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        // SAFETY: as for `deref`; `&mut self` keeps this the only reference made through it.
        unsafe { self.access.get() }
    }
}

impl<S> Drop for StateGuard<'_, S> {
    #[inline]
    fn drop(&mut self) {
        if self.mutex.is_none() {
            self.access.end();
            // Publishes the section to a revoker waiting for it.
            self.lock.held.store(false, Ordering::Release);
        }
    }
}

#[cfg(not(loom))]
mod platform {
    use std::cell::UnsafeCell;

    pub(super) fn barrier_available() -> bool {
        super::super::process_barrier::available()
    }

    pub(super) fn barrier_ready() -> bool {
        super::super::process_barrier::ready()
    }

    pub(super) fn revoker_barrier() {
        super::super::process_barrier::run();
    }

    pub(super) fn identity() -> u64 {
        crate::hub::os_thread_id()
    }

    #[inline]
    pub(super) fn identity_if_known() -> u64 {
        crate::hub::os_thread_id_if_known()
    }

    pub(super) struct Cell<S>(UnsafeCell<S>);

    pub(super) struct Access<S>(*mut S);

    impl<S> Cell<S> {
        pub(super) fn new(state: S) -> Cell<S> {
            Cell(UnsafeCell::new(state))
        }

        #[inline]
        pub(super) fn access(&self) -> Access<S> {
            Access(self.0.get())
        }
    }

    impl<S> Access<S> {
        /// # Safety
        ///
        /// The caller holds the lock, and no other reference from this access is alive.
        #[allow(clippy::mut_from_ref)]
        #[inline]
        pub(super) unsafe fn get(&self) -> &mut S {
            // SAFETY: the caller's promise.
            unsafe { &mut *self.0 }
        }

        #[inline]
        pub(super) fn end(&mut self) {}
    }
}

#[cfg(loom)]
mod platform {
    use ::loom::cell::{MutPtr, UnsafeCell};

    pub(super) fn barrier_available() -> bool {
        true
    }

    pub(super) fn barrier_ready() -> bool {
        true
    }

    /// The model of the process barrier: with the owner's fence (`owner_fence`), a
    /// sequentially consistent fence on each side.
    pub(super) fn revoker_barrier() {
        ::loom::sync::atomic::fence(::loom::sync::atomic::Ordering::SeqCst);
    }

    /// loom runs its threads on one OS thread, so identity comes from loom's thread ids.
    pub(super) fn identity() -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ::loom::thread::current().id().hash(&mut hasher);
        hasher.finish() | 1
    }

    pub(super) fn identity_if_known() -> u64 {
        identity()
    }

    pub(super) struct Cell<S>(UnsafeCell<S>);

    /// A tracked access, ended before the owner's release store so that loom sees the section
    /// end before a revoker starts.
    pub(super) struct Access<S>(Option<MutPtr<S>>);

    impl<S> Cell<S> {
        pub(super) fn new(state: S) -> Cell<S> {
            Cell(UnsafeCell::new(state))
        }

        pub(super) fn access(&self) -> Access<S> {
            Access(Some(self.0.get_mut()))
        }
    }

    impl<S> Access<S> {
        /// # Safety
        ///
        /// The caller holds the lock, and no other reference from this access is alive.
        #[allow(clippy::mut_from_ref)]
        pub(super) unsafe fn get(&self) -> &mut S {
            // SAFETY: the caller's promise; loom checks it.
            unsafe { self.0.as_ref().expect("a live access").deref() }
        }

        pub(super) fn end(&mut self) {
            self.0 = None;
        }
    }
}

use platform::{
    barrier_available, barrier_ready, identity, identity_if_known, revoker_barrier, Access, Cell,
};

/// What the owner's path orders its `held` store and `biased` load with: the compiler only, in
/// a normal build (the revoker's process barrier does the rest).
#[cfg(not(loom))]
#[inline]
fn owner_fence() {
    compiler_fence(Ordering::SeqCst);
}

#[cfg(loom)]
fn owner_fence() {
    ::loom::sync::atomic::fence(Ordering::SeqCst);
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::StateLock;
    use ::loom::sync::Arc;
    use ::loom::thread;

    /// The owner counts twice without the mutex while another thread counts once, revoking the
    /// bias in the middle: loom checks every access to the state against the handshake (two
    /// guards at once would be reported), and no count is lost.
    #[test]
    fn loom_a_revoke_never_lets_two_threads_in() {
        crate::loom::model(|| {
            let count = Arc::new(StateLock::new(0u32));
            let other = {
                let count = count.clone();
                thread::spawn(move || *count.lock() += 1)
            };
            *count.lock() += 1;
            *count.lock() += 1;
            other.join().unwrap();
            assert_eq!(*count.lock(), 3);
        });
    }

    /// Two other threads revoke at once: one revokes, the other finds it done.
    #[test]
    fn loom_two_revokers_and_the_owner() {
        crate::loom::model(|| {
            let count = Arc::new(StateLock::new(0u32));
            let others: Vec<_> = (0..2)
                .map(|_| {
                    let count = count.clone();
                    thread::spawn(move || *count.lock() += 1)
                })
                .collect();
            *count.lock() += 1;
            for other in others {
                other.join().unwrap();
            }
            assert_eq!(*count.lock(), 3);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{StateLock, BIAS_AFTER};
    use crate::loom::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Waits for the process to be registered for its barrier; false (the test then says why
    /// and skips) where the kernel has none.
    fn barrier_ready() -> bool {
        if !super::super::process_barrier::available() {
            eprintln!("skipped: this kernel offers no membarrier, so no lock is ever biased");
            return false;
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        while !super::super::process_barrier::ready() {
            assert!(
                Instant::now() < give_up,
                "membarrier registration never finished"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// A read-modify-write with a long gap in the middle, so that a second thread let in while
    /// the first is inside loses an update.
    fn add_one_slowly(count: &StateLock<u64>) {
        let mut state = count.lock();
        let before = *state;
        for _ in 0..5_000 {
            std::hint::spin_loop();
        }
        *state = before + 1;
    }

    #[test]
    fn the_owner_alone_gets_the_bias_and_another_thread_revokes_it_under_load() {
        if !barrier_ready() {
            return;
        }
        const EACH: u64 = 200;
        for _ in 0..20 {
            let count = Arc::new(StateLock::new(0u64));
            for _ in 0..BIAS_AFTER {
                add_one_slowly(&count);
            }
            assert!(
                count.biased.load(Ordering::Relaxed),
                "used alone, the lock is biased"
            );
            let others: Vec<_> = (0..2)
                .map(|_| {
                    let count = count.clone();
                    std::thread::spawn(move || {
                        for _ in 0..EACH {
                            add_one_slowly(&count);
                        }
                    })
                })
                .collect();
            for _ in 0..EACH {
                add_one_slowly(&count);
            }
            for other in others {
                other.join().unwrap();
            }
            assert!(
                !count.biased.load(Ordering::Relaxed),
                "another thread revoked the bias"
            );
            assert_eq!(*count.lock(), u64::from(BIAS_AFTER) + 3 * EACH);
        }
    }

    #[test]
    fn a_lock_another_thread_takes_first_is_never_biased() {
        if !barrier_ready() {
            return;
        }
        let count = Arc::new(StateLock::new(0u64));
        {
            let count = count.clone();
            std::thread::spawn(move || *count.lock() += 1)
                .join()
                .unwrap();
        }
        for _ in 0..10 * BIAS_AFTER {
            *count.lock() += 1;
        }
        assert!(!count.biased.load(Ordering::Relaxed));
    }
}
