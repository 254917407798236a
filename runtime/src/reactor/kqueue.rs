//! The kqueue backend (macOS, FreeBSD and the other BSDs): `EV_CLEAR` gives edge-triggered
//! readiness, `EVFILT_USER` gives remote wakes. See `mod.rs` for the contract.
//!
//! Man page: kqueue(2).

use super::{split_wake_events, Event};
use crate::sys::os_result;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// The `ident` of the `EVFILT_USER` event used for remote wakes.
const WAKER_IDENT: usize = usize::MAX;

/// One kqueue instance.
pub(crate) struct Poller {
    kqueue: Arc<OwnedFd>,
}

/// Removes descriptors from a [`Poller`] from any thread (kevent changes are thread-safe), so a
/// socket released on another thread leaves its poller at once.
#[derive(Clone)]
pub(crate) struct Registrar {
    kqueue: Arc<OwnedFd>,
}

/// Wakes a [`Poller`] from any thread by triggering its user event.
#[derive(Clone)]
pub(crate) struct Waker {
    kqueue: Arc<OwnedFd>,
}

/// Room for the events of one poll.
pub(crate) struct Events {
    list: Vec<libc::kevent>,
    len: usize,
}

// SAFETY: `libc::kevent` holds a `udata` raw pointer that we only ever use as an integer token.
unsafe impl Send for Events {}

fn kevent(ident: usize, filter: i16, flags: u16, fflags: u32, udata: usize) -> libc::kevent {
    // SAFETY: kevent is a plain C struct for which all-zero bytes are a valid value.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev.udata = udata as _;
    ev
}

fn apply(kq: RawFd, changes: &[libc::kevent]) -> io::Result<()> {
    // SAFETY: the kernel reads `changes.len()` events from `changes` and writes none back.
    os_result(unsafe {
        libc::kevent(
            kq,
            changes.as_ptr(),
            changes.len() as _,
            std::ptr::null_mut(),
            0,
            std::ptr::null(),
        )
    })
    .map(drop)
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: kqueue takes no arguments.
        let kq = os_result(unsafe { libc::kqueue() })?;
        // SAFETY: kqueue just returned this descriptor and nothing else owns it.
        let kqueue = Arc::new(unsafe { OwnedFd::from_raw_fd(kq) });
        // SAFETY: F_SETFD on a descriptor we own takes an integer, no pointer.
        os_result(unsafe { libc::fcntl(kq, libc::F_SETFD, libc::FD_CLOEXEC) })?;
        let add = kevent(
            WAKER_IDENT,
            libc::EVFILT_USER,
            libc::EV_ADD | libc::EV_CLEAR,
            0,
            0,
        );
        apply(kq, &[add])?;
        Ok(Poller { kqueue })
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker {
            kqueue: self.kqueue.clone(),
        }
    }

    pub(crate) fn registrar(&self) -> Registrar {
        Registrar {
            kqueue: self.kqueue.clone(),
        }
    }

    /// Registers `fd` for read and write readiness, edge-triggered.
    #[allow(dead_code)]
    pub(crate) fn register(&self, fd: RawFd, token: usize) -> io::Result<()> {
        let flags = libc::EV_ADD | libc::EV_CLEAR;
        let changes = [
            kevent(fd as usize, libc::EVFILT_READ, flags, 0, token),
            kevent(fd as usize, libc::EVFILT_WRITE, flags, 0, token),
        ];
        apply(self.kqueue.as_raw_fd(), &changes)
    }

    /// Waits for events, a wake, or the timeout. Returns whether a remote wake arrived.
    pub(crate) fn poll(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<bool> {
        events.len = 0;
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the kernel writes at most `list.len()` events into `list`, which we own, and
        // reads the timeout (if any) from `ts`, alive for the call.
        let n = match os_result(unsafe {
            libc::kevent(
                self.kqueue.as_raw_fd(),
                std::ptr::null(),
                0,
                events.list.as_mut_ptr(),
                events.list.len() as _,
                ts_ptr,
            )
        }) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        let (kept, woken) =
            split_wake_events(&mut events.list, n, |e| e.filter == libc::EVFILT_USER);
        events.len = kept;
        Ok(woken)
    }
}

impl Registrar {
    /// Removes `fd`; callable from any thread. Events already collected for it may still be
    /// reported by the poll under way or the next one.
    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let changes = [
            kevent(fd as usize, libc::EVFILT_READ, libc::EV_DELETE, 0, 0),
            kevent(fd as usize, libc::EVFILT_WRITE, libc::EV_DELETE, 0, 0),
        ];
        apply(self.kqueue.as_raw_fd(), &changes)
    }
}

impl Waker {
    pub(crate) fn wake(&self) -> io::Result<()> {
        let trigger = kevent(WAKER_IDENT, libc::EVFILT_USER, 0, libc::NOTE_TRIGGER, 0);
        apply(self.kqueue.as_raw_fd(), &[trigger])
    }
}

impl Events {
    pub(crate) fn with_capacity(capacity: usize) -> Events {
        let empty = kevent(0, 0, 0, 0, 0);
        Events {
            list: vec![empty; capacity],
            len: 0,
        }
    }

    #[allow(dead_code)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.list[..self.len].iter().map(|e| {
            // EV_ERROR is an error to report once (the call then returns it), not a closure;
            // only EV_EOF (the direction shut down) lasts.
            let error = e.flags & libc::EV_ERROR != 0;
            let eof = e.flags & libc::EV_EOF != 0;
            let (read, write) = (
                e.filter == libc::EVFILT_READ,
                e.filter == libc::EVFILT_WRITE,
            );
            Event {
                token: e.udata as usize,
                readable: error || read,
                writable: error || write,
                read_closed: read && eof,
                write_closed: write && eof,
            }
        })
    }
}
