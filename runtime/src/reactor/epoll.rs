//! The epoll backend (Linux): edge-triggered, each descriptor registered once, an eventfd for
//! remote wakes. See `mod.rs` for the contract.
//!
//! Man pages: epoll_create1(2), epoll_ctl(2), epoll_wait(2), eventfd(2).

use super::{split_wake_events, timeout_millis, Event};
use crate::sys::os_result;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// The token reserved for the waker's eventfd.
const WAKER_TOKEN: u64 = u64::MAX;

/// One epoll instance.
pub(crate) struct Poller {
    epoll: Arc<OwnedFd>,
    waker: Waker,
}

/// Removes descriptors from a [`Poller`] from any thread (epoll_ctl is thread-safe), so a socket
/// released on another thread leaves its poller at once rather than after a round trip.
#[derive(Clone)]
pub(crate) struct Registrar {
    epoll: Arc<OwnedFd>,
}

/// Wakes a [`Poller`] from any thread by writing its eventfd.
#[derive(Clone)]
pub(crate) struct Waker {
    eventfd: Arc<OwnedFd>,
}

/// Room for the events of one poll.
pub(crate) struct Events {
    list: Vec<libc::epoll_event>,
    len: usize,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 takes no pointers.
        let epoll = os_result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 just returned this descriptor and nothing else owns it.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: eventfd takes no pointers.
        let eventfd =
            os_result(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: eventfd just returned this descriptor and nothing else owns it.
        let eventfd = unsafe { OwnedFd::from_raw_fd(eventfd) };
        let poller = Poller {
            epoll: Arc::new(epoll),
            waker: Waker {
                eventfd: Arc::new(eventfd),
            },
        };
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.waker.eventfd.as_raw_fd(),
            WAKER_TOKEN,
        )?;
        Ok(poller)
    }

    pub(crate) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    pub(crate) fn registrar(&self) -> Registrar {
        Registrar {
            epoll: self.epoll.clone(),
        }
    }

    /// Registers `fd` for read and write readiness, edge-triggered.
    #[allow(dead_code)]
    pub(crate) fn register(&self, fd: RawFd, token: usize) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token as u64)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let flags = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        let mut event = libc::epoll_event {
            events: flags as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        os_result(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) }).map(drop)
    }

    /// Waits for events, a wake, or the timeout. Returns whether a remote wake arrived.
    pub(crate) fn poll(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<bool> {
        events.len = 0;
        // SAFETY: the kernel writes at most `list.len()` events into `list`, which we own.
        let n = match os_result(unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.list.as_mut_ptr(),
                events.list.len() as libc::c_int,
                timeout_millis(timeout),
            )
        }) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        let (kept, woken) = split_wake_events(&mut events.list, n, |e| e.u64 == WAKER_TOKEN);
        if woken {
            self.waker.drain();
        }
        events.len = kept;
        Ok(woken)
    }
}

impl Registrar {
    /// Removes `fd`; callable from any thread. Events already collected for it may still be
    /// reported by the poll under way or the next one.
    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: EPOLL_CTL_DEL ignores the event pointer (null is allowed since Linux 2.6.9).
        os_result(unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })
        .map(drop)
    }
}

impl Waker {
    pub(crate) fn wake(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: the buffer is a live u64, 8 bytes as eventfd requires.
        match os_result(unsafe {
            libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8)
        }) {
            // A full counter (EAGAIN) already means "woken".
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    fn drain(&self) {
        let mut buf: u64 = 0;
        // The eventfd is non-blocking; EAGAIN only means another drain got there first.
        // SAFETY: the buffer is a live u64, 8 bytes as eventfd requires.
        let _ = os_result(unsafe {
            libc::read(self.eventfd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8)
        });
    }
}

impl Events {
    pub(crate) fn with_capacity(capacity: usize) -> Events {
        Events {
            list: vec![libc::epoll_event { events: 0, u64: 0 }; capacity],
            len: 0,
        }
    }

    #[allow(dead_code)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.list[..self.len].iter().map(|e| {
            let flags = e.events as libc::c_int;
            // EPOLLERR is a pending error (an ICMP "port unreachable" on a UDP socket, say): the
            // next call reports it once and the socket may work again, so it is readiness, not
            // closure. Only a hang-up lasts.
            let error = flags & libc::EPOLLERR != 0;
            let hung_up = flags & libc::EPOLLHUP != 0;
            Event {
                token: e.u64 as usize,
                readable: error
                    || hung_up
                    || flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0,
                writable: error || hung_up || flags & libc::EPOLLOUT != 0,
                read_closed: hung_up || flags & libc::EPOLLRDHUP != 0,
                write_closed: hung_up,
            }
        })
    }
}
