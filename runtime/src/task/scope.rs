//! Why a wait may end before its operation happened: a green thread's cancellation and its
//! deadline scopes, as values. Raising them, and deciding when they are due for the running
//! green thread, is the hub's business (`crate::hub::interrupt`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The unwind payload of a cancelled green thread; `join` reports it as "cancelled".
pub(crate) struct Cancelled;

/// The unwind payload of an expired `timeout` scope, carrying the scope's id.
pub(crate) struct ScopeExpired(pub(crate) u64);

/// A deadline scope: its deadline in nanoseconds on the monotonic clock (see [`now_nanos`]), the id that
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

    /// A scope whose deadline is `duration` from now, or `None` when that is too far to ever
    /// come (centuries).
    #[inline]
    pub(crate) fn after(duration: Duration, id: u64, depth: u32) -> Option<Scope> {
        let far = u64::try_from(duration.as_nanos()).ok()?;
        let deadline = now_nanos().checked_add(far).filter(|&d| d != u64::MAX)?;
        Some(Scope {
            deadline,
            id,
            depth,
        })
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

    /// The same scope, opened at unwinding depth `depth`.
    pub(crate) fn at_depth(self, depth: u32) -> Scope {
        Scope { depth, ..self }
    }

    /// Whether this scope ends before `other` does.
    pub(crate) fn is_earlier_than(self, other: Scope) -> bool {
        self.deadline < other.deadline
    }

    /// The deadline as an `Instant`, for a timer. Never earlier than the deadline itself: a
    /// timer armed for it finds the scope expired when it fires (see [`Base`]).
    pub(crate) fn deadline(self) -> Option<Instant> {
        (self.deadline != u64::MAX).then(|| {
            let base = base();
            base.instant + Duration::from_nanos(self.deadline.saturating_sub(base.nanos))
        })
    }

    pub(crate) fn has_expired(self) -> bool {
        self.deadline != u64::MAX && now_nanos() >= self.deadline
    }
}

/// One reading of the scope clock and one of `Instant`, the clock reading first: an `Instant`
/// computed from a scope deadline through them is late by the few nanoseconds between the two
/// readings, never early.
struct Base {
    nanos: u64,
    instant: Instant,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| Base {
        nanos: now_nanos(),
        instant: Instant::now(),
    })
}

/// The clock that `std::time::Instant` reads on this system, read directly, in nanoseconds.
/// Scope deadlines are kept in it rather than in `Instant`s because turning an `Instant` into a
/// number goes through std's timespec subtraction, which was a third of the cost of a
/// `timeout` around a call that finishes in time. Being the very clock of `Instant`, it never
/// drifts from the timers' clock.
#[inline]
fn now_nanos() -> u64 {
    #[cfg(target_vendor = "apple")]
    const CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW;
    #[cfg(not(target_vendor = "apple"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for clock_gettime to write, and the clock exists on
    // every system greenhub builds for (it is the one std's `Instant` reads there).
    let read = unsafe { libc::clock_gettime(CLOCK, &mut now) };
    debug_assert_eq!(read, 0, "the monotonic clock cannot be read");
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer armed for a scope's deadline must find the scope expired when it fires, or the
    /// green thread would park again with a timer in the past, again and again.
    #[test]
    fn a_scope_has_expired_by_the_instant_its_timer_is_armed_for() {
        for micros in [0, 1, 10, 100, 1_000] {
            let scope = Scope::after(Duration::from_micros(micros), 1, 0).expect("near");
            let at = scope.deadline().expect("has a deadline");
            while Instant::now() < at {
                std::hint::spin_loop();
            }
            assert!(
                scope.has_expired(),
                "not expired at its own deadline ({micros} us)"
            );
        }
    }

    #[test]
    fn a_scope_never_expires_before_its_duration() {
        let start = Instant::now();
        let scope = Scope::after(Duration::from_millis(2), 1, 0).expect("near");
        while !scope.has_expired() {
            std::hint::spin_loop();
        }
        assert!(start.elapsed() >= Duration::from_millis(2));
    }

    #[test]
    fn a_deadline_centuries_away_is_no_scope() {
        assert!(Scope::after(Duration::MAX, 1, 0).is_none());
        assert!(Scope::after(Duration::from_secs(u64::MAX / 2), 1, 0).is_none());
        assert!(Scope::NONE.deadline().is_none());
        assert!(!Scope::NONE.has_expired());
    }
}
