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

use crate::hub::with_hub;
use std::cell::Cell;
use std::panic::resume_unwind;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The unwind payload of a cancelled green thread; `join` reports it as "cancelled".
pub(crate) struct Cancelled;

/// The unwind payload of an expired `timeout` scope, carrying the scope's id.
pub(crate) struct ScopeExpired(pub(crate) u64);

/// A deadline scope: its deadline as nanoseconds since the process's base instant, the id that
/// tells its expiry apart from that of an enclosing scope, and how many unwinds its green thread
/// was in when the scope was opened (a scope opened inside a destructor that runs during an
/// unwind may still end that destructor's wait: its own `timeout` catches the expiry there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scope {
    deadline: u64,
    id: u64,
    depth: u32,
}

impl Scope {
    /// No scope: the deadline that never comes.
    pub(crate) const NONE: Scope = Scope {
        deadline: u64::MAX,
        id: 0,
        depth: 0,
    };

    #[inline]
    pub(crate) fn new(deadline: Instant, id: u64, depth: u32) -> Scope {
        Scope {
            deadline: to_nanos(deadline),
            id,
            depth,
        }
    }

    pub(crate) fn from_parts(deadline: u64, id: u64, depth: u32) -> Scope {
        Scope {
            deadline,
            id,
            depth,
        }
    }

    pub(crate) fn deadline_nanos(self) -> u64 {
        self.deadline
    }

    pub(crate) fn id(self) -> u64 {
        self.id
    }

    /// The unwinding depth of its green thread when the scope was opened.
    pub(crate) fn depth(self) -> u32 {
        self.depth
    }

    /// Whether this scope ends before `other` does.
    pub(crate) fn is_earlier_than(self, other: Scope) -> bool {
        self.deadline < other.deadline
    }

    pub(crate) fn deadline(self) -> Option<Instant> {
        (self.deadline != u64::MAX).then(|| base() + Duration::from_nanos(self.deadline))
    }

    pub(crate) fn has_expired(self) -> bool {
        self.deadline != u64::MAX && to_nanos(Instant::now()) >= self.deadline
    }
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// An instant as nanoseconds since the process's base instant.
#[inline]
fn to_nanos(at: Instant) -> u64 {
    at.saturating_duration_since(base())
        .as_nanos()
        .min(u64::MAX as u128 - 1) as u64
}

thread_local! {
    /// The innermost scope of a plain OS thread (green threads keep theirs on the task).
    static OS_SCOPE: Cell<Scope> = const { Cell::new(Scope::NONE) };
}

/// The innermost scope of the calling OS thread (outside any green thread).
pub(crate) fn os_scope() -> Scope {
    OS_SCOPE.with(Cell::get)
}

pub(crate) fn set_os_scope(scope: Scope) {
    OS_SCOPE.with(|s| s.set(scope));
}

/// For a wait on a plain OS thread: the earlier of `deadline` and the scope's deadline.
pub(crate) fn os_deadline(deadline: Option<Instant>) -> Option<Instant> {
    match (deadline, os_scope().deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What must interrupt the caller's wait now, if anything.
pub(crate) enum Interrupt {
    Cancelled,
    Expired(u64),
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
            (scope.has_expired() && !os_thread_unwinding()).then_some(Interrupt::Expired(scope.id))
        }
    }
}

thread_local! {
    /// Unwinds that can never finish on this OS thread: green threads a hub on this thread gave
    /// up while they were suspended in the middle of an unwind. std's per-thread panic count
    /// keeps counting them, so `std::thread::panicking()` stays true here from then on.
    static ABANDONED_UNWINDS: Cell<usize> = const { Cell::new(0) };
}

/// Unwinds on this OS thread that are none of its green threads': green threads a hub on this
/// thread gave up mid-unwind (see `Hub::abandon_all`), and the unwind this thread was already
/// in when it started a runtime (see [`OutsideUnwind`]).
pub(crate) fn abandoned_unwinds() -> usize {
    ABANDONED_UNWINDS.with(Cell::get)
}

pub(crate) fn add_abandoned_unwinds(count: usize) {
    ABANDONED_UNWINDS.with(|c| c.set(c.get() + count));
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
            ABANDONED_UNWINDS.with(|c| c.set(c.get() - 1));
        }
    }
}

/// Whether this plain OS thread is unwinding, as far as can be told: with abandoned unwinds
/// around, `std::thread::panicking()` is always true here, and is then taken to mean nothing.
fn os_thread_unwinding() -> bool {
    std::thread::panicking() && abandoned_unwinds() == 0
}

/// What a green thread's cancellation flag and innermost scope say must interrupt it now,
/// unwinding or not (the caller decides).
pub(crate) fn due(cancelled: bool, scope: Scope) -> Option<Interrupt> {
    if cancelled {
        Some(Interrupt::Cancelled)
    } else if scope.has_expired() {
        Some(Interrupt::Expired(scope.id))
    } else {
        None
    }
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

/// Installs, once per process, a panic hook that notes which green thread a panic starts in, and
/// then calls the hook that was there before. Without it a green thread's panic would only be
/// inferred (see `Hub::is_unwinding`), which is ambiguous while another green thread of the same
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
