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

use crate::hub::{interrupt, next_scope_id, os_scope, set_os_scope, with_hub};
use crate::task::{Scope, ScopeExpired};

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

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

/// Runs `f` with a deadline `duration` from now. If any park inside `f` reaches the deadline,
/// `f` is unwound from that point (its destructors run) and `timeout` returns [`Elapsed`].
///
/// Scopes nest and the earliest deadline wins: an inner scope with a later deadline than its
/// enclosing one changes nothing, and an expiry belongs to the scope whose deadline it was.
/// Code that never parks cannot be interrupted (green threads are cooperative). Inside a
/// hub every greenhub wait honours the scope; on a plain OS thread greenhub's own waits (park,
/// sleep, sockets, `greenhub::sync`) do.
///
/// The deadline acts only at a wait whose operation has not happened yet. An operation that
/// completes returns its result even when the deadline passed meanwhile: bytes read, a
/// connection accepted, bytes written or a value received are never thrown away by an expiry;
/// the next wait inside `f` unwinds instead.
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
    let id = next_scope_id();
    let Some(new) = Scope::after(duration, id, 0) else {
        return Ok(f());
    };
    let mut f = Some(f);
    let in_green_thread = with_hub(|hub| {
        let task = hub.current_task_ref()?;
        let new = new.at_depth(hub.unwinding_depth(task));
        let enclosing = task.scope();
        // Only an earlier deadline needs a scope of its own, or one opened in a destructor
        // running during an unwind: the enclosing scope cannot end its waits. Its timer is
        // armed only while the green thread parks inside it (see `Hub::park`).
        if new.is_earlier_than(enclosing) || new.depth() != enclosing.depth() {
            task.set_scope(new);
        }
        let _restore = Restore {
            set: |scope| task.set_scope(scope),
            enclosing,
        };
        Some(catch_unwind(AssertUnwindSafe(f.take().expect("runs once"))))
    })
    .flatten();
    let outcome = match in_green_thread {
        Some(outcome) => outcome,
        None => {
            let enclosing = os_scope();
            if new.is_earlier_than(enclosing) {
                set_os_scope(new);
            }
            let _restore = Restore {
                set: set_os_scope,
                enclosing,
            };
            catch_unwind(AssertUnwindSafe(f.take().expect("runs once")))
        }
    };
    match outcome {
        Ok(value) => Ok(value),
        Err(payload) => {
            // The unwind is caught here; if it continues, `raise` counts it again.
            interrupt::unwind_caught();
            match payload.downcast::<ScopeExpired>() {
                Ok(expired) if expired.0 == id => Err(Elapsed(())),
                Ok(expired) => interrupt::raise(expired),
                Err(other) => interrupt::raise(other),
            }
        }
    }
}

/// Puts the enclosing scope back when a scope ends, however it ends.
struct Restore<F: Fn(Scope)> {
    set: F,
    enclosing: Scope,
}

impl<F: Fn(Scope)> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.set)(self.enclosing);
    }
}
