//! The atomics, mutex and cell that the lock-free state machines are written against: std's in
//! every normal build, [loom]'s when built with `RUSTFLAGS="--cfg loom"`, so that the same code
//! can be model-checked under every interleaving loom explores.
//!
//! Only the small state-machine types use these (the join packet, a hub's sleep handshake, a
//! green thread's remote-wake flag, readiness ticks, the waiter lists of `sync`); their loom
//! models live beside them in `#[cfg(all(test, loom))]` modules. Run them with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p greenhub --lib --release -- loom_
//! ```
//!
//! [loom]: https://docs.rs/loom

#[cfg(loom)]
pub(crate) use ::loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

#[cfg(loom)]
pub(crate) use ::loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use ::loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's access API (`with`, `with_mut`), so that loom can check
/// every access to the cell against the state machine that guards it.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer for reading; the caller's state machine rules out writers.
    #[allow(dead_code)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer for writing; the caller's state machine rules out other access.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Runs a loom model with a bound on preemptions (3, or `LOOM_MAX_PREEMPTIONS`), as tokio does:
/// bugs in protocols this small show up within a few preemptions, and the unbounded search of
/// a model with three threads and spin loops takes hours.
#[cfg(all(test, loom))]
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}
