//! The reactor: the one place where a hub waits for the outside world.
//!
//! Each hub owns one [`Poller`]. Its poll step waits for whichever comes first: a file
//! descriptor becoming ready, the hub's next timer, or a remote wake (another hub or an OS
//! thread made one of this hub's green threads runnable).
//!
//! # The backend contract
//!
//! Both backends (`epoll.rs` on Linux and Android, `kqueue.rs` on macOS and the BSDs) expose the
//! same small API and the rest of the crate never names a platform:
//!
//! - [`Poller::new`] creates the poller together with its [`Waker`].
//! - [`Poller::register`] adds a descriptor once, for both read and write readiness, in
//!   edge-triggered mode (`EPOLLET` / `EV_CLEAR`). A readiness edge is reported once; the owner
//!   must drain the descriptor (read until `WouldBlock`) before waiting again, and must re-check
//!   readiness after registering a waiter so that no edge is lost.
//! - [`Registrar::deregister`] removes it, from any thread (a socket may be dropped on another
//!   hub). A poll that already collected an event for that token may still report it, so the
//!   caller frees per-descriptor state only after the poller's next poll.
//! - [`Poller::poll`] fills [`Events`] and returns; spurious and coalesced events are allowed.
//!   Only a hang-up (or end of file) is reported as permanent ("closed"); an error condition is
//!   readiness, reported once, after which the descriptor is re-armed like any other.
//! - [`Waker::wake`] may be called from any thread and makes the current or next `poll` return.

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "epoll.rs"]
mod backend;

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
#[path = "kqueue.rs"]
mod backend;

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
)))]
compile_error!("greenhub supports Linux (epoll) and macOS/BSD (kqueue) only");

#[allow(unused_imports)]
pub(crate) use backend::{Events, Poller, Registrar, Waker};

/// What one poll reported for one registered descriptor.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)]
pub(crate) struct Event {
    /// The token given to [`Poller::register`].
    pub(crate) token: usize,
    /// Readable, or the peer hung up, or an error is pending.
    pub(crate) readable: bool,
    /// Writable, or an error is pending.
    pub(crate) writable: bool,
    /// The peer closed its side or hung up: reads will not block again.
    pub(crate) read_closed: bool,
    /// The connection hung up: writes will not block again.
    pub(crate) write_closed: bool,
}

/// Moves the events that are not the waker's to the front of `list[..n]`. Returns how many
/// there are and whether the waker's event was among them.
fn split_wake_events<T>(list: &mut [T], n: usize, is_wake: impl Fn(&T) -> bool) -> (usize, bool) {
    let mut woken = false;
    let mut kept = 0;
    for i in 0..n {
        if is_wake(&list[i]) {
            woken = true;
        } else {
            list.swap(kept, i);
            kept += 1;
        }
    }
    (kept, woken)
}

/// Converts an optional timeout to milliseconds for the poll call, rounding up so that a hub
/// never wakes before its timer is due (and never spins on a sub-millisecond remainder).
#[allow(dead_code)]
pub(crate) fn timeout_millis(timeout: Option<std::time::Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}
