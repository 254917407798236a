//! Why a wait ends before its operation happened: the green thread was cancelled, or the
//! deadline of a `timeout` scope passed. Both unwind the waiter from a park point, and only from
//! one whose operation has not taken effect yet (see "Promises at the edges" in DESIGN.md):
//!
//! - every wait checks [`pending`] *before* it parks, never after it woke: a wait that woke
//!   because its operation can complete completes it and returns the result, and the
//!   interruption acts at the next park;
//! - a wait whose operation is half done (a rendezvous send whose value sits in the channel)
//!   checks under the lock that guards that operation and undoes it there, atomically.
//!
//! A green thread that is already unwinding is never interrupted again: a destructor that parks
//! while its green thread is being cancelled parks normally. Whether a green thread unwinds is
//! tracked per green thread, because `std::thread::panicking()` is per OS thread and stays true
//! for every green thread of a hub while one of them is suspended in the middle of an unwind.

use super::context::{self, os_scope, with_hub};
use crate::task::{Cancelled, Interrupt, ScopeExpired};
use std::panic::resume_unwind;
use std::sync::Mutex;
use std::time::Instant;

/// For a wait on a plain OS thread: the earlier of `deadline` and the scope's deadline.
pub(crate) fn os_deadline(deadline: Option<Instant>) -> Option<Instant> {
    match (deadline, os_scope().deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Interrupt {
    /// Unwinds the caller with this interruption's payload.
    pub(crate) fn raise(self) -> ! {
        match self {
            Interrupt::Cancelled => raise(Box::new(Cancelled)),
            Interrupt::Expired(id) => raise(Box::new(ScopeExpired(id))),
        }
    }
}

/// The interruption pending for the calling green thread (or OS thread), if any.
#[inline]
pub(crate) fn pending() -> Option<Interrupt> {
    match with_hub(|hub| hub.pending_interrupt()) {
        Some(Some(interrupt)) => Some(interrupt),
        Some(None) => None,
        // A plain OS thread cannot be cancelled, but its timeout scope applies; its own
        // `panicking()` is exact.
        None => {
            let scope = os_scope();
            (scope.has_expired() && !os_thread_unwinding())
                .then_some(Interrupt::Expired(scope.id()))
        }
    }
}

/// Unwinds on this OS thread that are none of its green threads': green threads a hub on this
/// thread gave up mid-unwind (see `Hub::abandon_all`; std's per-thread panic count keeps
/// counting them, so `std::thread::panicking()` stays true here from then on), and the unwind
/// this thread was already in when it started a runtime (see [`OutsideUnwind`]).
pub(crate) fn abandoned_unwinds() -> usize {
    context::abandoned_unwinds()
}

pub(crate) fn add_abandoned_unwinds(count: usize) {
    context::add_abandoned_unwinds(count);
}

/// A runtime started by a thread that is already unwinding (`run` called from a destructor
/// during a panic): that unwind is no green thread's, and counts as one for as long as the
/// runtime runs on this thread.
pub(crate) struct OutsideUnwind(bool);

impl OutsideUnwind {
    pub(crate) fn note() -> OutsideUnwind {
        let unwinding = std::thread::panicking();
        if unwinding {
            add_abandoned_unwinds(1);
        }
        OutsideUnwind(unwinding)
    }
}

impl Drop for OutsideUnwind {
    fn drop(&mut self) {
        if self.0 {
            context::remove_abandoned_unwind();
        }
    }
}

/// Whether this plain OS thread is unwinding, as far as can be told: with abandoned unwinds
/// around, `std::thread::panicking()` is always true here, and is then taken to mean nothing.
fn os_thread_unwinding() -> bool {
    std::thread::panicking() && abandoned_unwinds() == 0
}

/// Unwinds if the caller was cancelled or its scope expired. Called before every park.
pub(crate) fn check() {
    if let Some(interrupt) = pending() {
        interrupt.raise();
    }
}

/// Starts an unwind with `payload`, counting it as one this green thread is in.
pub(crate) fn raise(payload: Box<dyn std::any::Any + Send>) -> ! {
    let _ = with_hub(|hub| hub.unwind_started());
    resume_unwind(payload)
}

/// An unwind this green thread was in was caught (by `timeout`).
pub(crate) fn unwind_caught() {
    let _ = with_hub(|hub| hub.unwind_caught());
}

/// The message of a panic payload, as std prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

/// Installs, once per process, a panic hook that notes which green thread a panic starts in, and
/// then calls the hook that was there before. Without it a green thread's panic would only be
/// inferred (see `crate::hub::unwinding`), which is ambiguous while another green thread of the same
/// hub is suspended in the middle of an unwind.
///
/// A program that replaces the hook itself should chain the previous one (see
/// `std::panic::take_hook`), or greenhub only infers panics it did not start.
pub(crate) fn install_panic_hook() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return;
    }
    let install = || {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = with_hub(|hub| hub.unwind_started());
            previous(info);
        }));
    };
    if std::thread::panicking() {
        // `take_hook` panics on a panicking thread; another thread may install it.
        *installed = std::thread::spawn(install).join().is_ok();
    } else {
        install();
        *installed = true;
    }
}
