//! Why a wait may end before its operation happened: a green thread's cancellation and its
//! deadline scopes, as values. Raising them, and deciding when they are due for the running
//! green thread, is the hub's business (`crate::hub::interrupt`).

use std::sync::OnceLock;
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

/// What must interrupt the caller's wait now, if anything.
pub(crate) enum Interrupt {
    Cancelled,
    Expired(u64),
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
