//! Deadline scopes, like gevent's `Timeout`: `timeout(d, f)` runs `f`, and any park inside it
//! (socket, channel, lock, sleep, join) that reaches the deadline unwinds back to `timeout`,
//! which returns [`Elapsed`].
//!
//! ```text
//!   timeout(50ms, || {            scope A, deadline t+50 ─┐ installed on the green thread,
//!       timeout(10ms, || {        scope B, deadline t+10 ─┤ one timer per earlier deadline
//!           stream.read(..)       park ... t+10: B's timer wakes it; the park point sees
//!       })                        B expired and unwinds with "scope B" ─► B returns Elapsed
//!   })                            (an expiry of A would pass through B untouched)
//! ```

use crate::hub::with_hub;
use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// No scope: the deadline that never comes.
const NONE: (u64, u64) = (u64::MAX, 0);

/// The unwind payload of an expired scope, carrying the scope's id.
struct ScopeExpired(u64);

/// [`timeout`] ran out of time before its closure finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline has elapsed")
    }
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// An instant as nanoseconds since the process's base instant.
fn to_nanos(at: Instant) -> u64 {
    at.saturating_duration_since(base())
        .as_nanos()
        .min(u64::MAX as u128 - 1) as u64
}

/// Scope ids only need to differ among the scopes on one OS thread's stacks (a green thread
/// never leaves its hub's thread), so a thread-local counter does, with no shared atomic.
fn next_scope_id() -> u64 {
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(1) };
    }
    NEXT.with(|next| {
        let id = next.get();
        next.set(id + 1);
        id
    })
}

thread_local! {
    /// The innermost scope of a plain OS thread (green threads keep theirs on the task).
    static OS_SCOPE: Cell<(u64, u64)> = const { Cell::new(NONE) };
}

/// Unwinds if the scope `(deadline, id)` has expired. Called at every park point.
pub(crate) fn check_expired((deadline, id): (u64, u64)) {
    if deadline != u64::MAX && to_nanos(Instant::now()) >= deadline && !std::thread::panicking() {
        resume_unwind(Box::new(ScopeExpired(id)));
    }
}

/// For waits on a plain OS thread: the earlier of `deadline` and the scope's deadline.
pub(crate) fn os_deadline(deadline: Option<Instant>) -> Option<Instant> {
    let (scope, _) = OS_SCOPE.with(Cell::get);
    let scope = (scope != u64::MAX).then(|| base() + Duration::from_nanos(scope));
    match (deadline, scope) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// For waits on a plain OS thread: unwinds if the scope expired.
pub(crate) fn check_os_expired() {
    check_expired(OS_SCOPE.with(Cell::get));
}

/// Runs `f` with a deadline `duration` from now. If any park inside `f` reaches the deadline,
/// `f` is unwound from that point (its destructors run) and `timeout` returns [`Elapsed`].
///
/// Scopes nest and the earliest deadline wins: an inner scope with a later deadline than its
/// enclosing one changes nothing, and an expiry belongs to the scope whose deadline it was.
/// Code that never parks cannot be interrupted (green threads are cooperative). Inside a
/// hub every greenhub wait honours the scope; on a plain OS thread greenhub's own waits (park,
/// sleep, sockets, `greenhub::sync`) do.
///
/// # Errors
///
/// [`Elapsed`] when the deadline passed first. A panic inside `f` is not caught: it continues.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// greenhub::run(|| {
///     let slow = greenhub::timeout(Duration::from_millis(10), || {
///         greenhub::sleep(Duration::from_secs(10));
///         "finished"
///     });
///     assert!(slow.is_err());
///     let fast = greenhub::timeout(Duration::from_secs(10), || "finished");
///     assert_eq!(fast, Ok("finished"));
/// });
/// ```
pub fn timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let Some(deadline) = Instant::now().checked_add(duration) else {
        return Ok(f());
    };
    let mut f = Some(f);
    let id = next_scope_id();
    let new = (to_nanos(deadline), id);
    let in_green_thread = with_hub(|hub| {
        let task = hub.current_task_ref()?;
        let enclosing = task.scope();
        // Only an earlier deadline needs a scope of its own (and a timer).
        let timer = (new.0 < enclosing.0).then(|| {
            task.set_scope(new);
            hub.timer(deadline)
        });
        let _restore = Restore {
            set: |scope| task.set_scope(scope),
            enclosing,
        };
        let outcome = catch_unwind(AssertUnwindSafe(f.take().expect("runs once")));
        drop(timer);
        Some(outcome)
    })
    .flatten();
    let outcome = match in_green_thread {
        Some(outcome) => outcome,
        None => {
            let enclosing = OS_SCOPE.with(Cell::get);
            if new.0 < enclosing.0 {
                OS_SCOPE.with(|s| s.set(new));
            }
            let _restore = Restore {
                set: |scope| OS_SCOPE.with(|s| s.set(scope)),
                enclosing,
            };
            catch_unwind(AssertUnwindSafe(f.take().expect("runs once")))
        }
    };
    match outcome {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast::<ScopeExpired>() {
            Ok(expired) if expired.0 == id => Err(Elapsed(())),
            Ok(expired) => resume_unwind(expired),
            Err(other) => resume_unwind(other),
        },
    }
}

/// Puts the enclosing scope back when a scope ends, however it ends.
struct Restore<F: Fn((u64, u64))> {
    set: F,
    enclosing: (u64, u64),
}

impl<F: Fn((u64, u64))> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.set)(self.enclosing);
    }
}
