//! The lock around every `sync` primitive's state, biased to the OS thread that made the
//! primitive: while only that thread (its hub's green threads, which never run at once) uses
//! it, taking it is two plain stores and two plain loads, no atomic read-modify-write; the first
//! time another thread takes it, the bias is revoked for good and everyone takes a mutex.
//!
//! ```text
//!  owner:   held = true ── compiler fence ── biased? ─ yes ─► critical section ─► held = false
//!                                              │ no
//!                                              └─ held = false ─► mutex
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
    /// The OS thread the lock is biased to (see `identity`); 0 when it never was.
    owner: u64,
    /// While true, the owner skips the mutex. Only ever goes from true to false.
    biased: AtomicBool,
    /// The owner is inside a critical section taken without the mutex.
    held: AtomicBool,
    mutex: Mutex<()>,
    state: Cell<S>,
}

// SAFETY: the state is reached only through a guard, and the bias handshake (module doc) admits
// one guard at a time, as a mutex does; so sharing the lock moves `S` between threads (S: Send).
unsafe impl<S: Send> Sync for StateLock<S> {}

impl<S> StateLock<S> {
    /// A lock biased to the calling OS thread, where a process-wide barrier is to be had.
    pub(crate) fn new(state: S) -> StateLock<S> {
        let owner = if barrier_available() { identity() } else { 0 };
        StateLock {
            owner,
            biased: AtomicBool::new(owner != 0),
            held: AtomicBool::new(false),
            mutex: Mutex::new(()),
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
        if self.owner != 0 && self.owner == identity_if_known() {
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
        self.lock_with_mutex()
    }

    #[cold]
    #[inline(never)]
    fn lock_with_mutex(&self) -> StateGuard<'_, S> {
        let mutex = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        // `biased` is only cleared under the mutex, so this is the one revoker.
        if self.biased.load(Ordering::Relaxed) {
            self.biased.store(false, Ordering::Relaxed);
            revoker_barrier();
            let mut spins = 0u32;
            while self.held.load(Ordering::Acquire) {
                back_off(&mut spins);
            }
        }
        StateGuard {
            access: self.state.access(),
            mutex: Some(mutex),
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
/// may have been preempted in the middle.
#[cfg(not(loom))]
fn back_off(spins: &mut u32) {
    *spins += 1;
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
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
    mutex: Option<MutexGuard<'a, ()>>,
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

use platform::{barrier_available, identity, identity_if_known, revoker_barrier, Access, Cell};

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
