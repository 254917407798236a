//! When a server runs short of resources: the pause before its acceptors try again, and the
//! count of handlers that could not start for want of a stack, so that each hub logs a streak
//! of them once instead of once per connection.

use super::StreamServer;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Handlers that could not start for want of a stack (out of memory maps or address space),
/// counted over every acceptor and hub of one server: each hub logs a streak of them once, and
/// the acceptors back off while any lasts.
pub(super) struct StartFailures {
    /// Every failure so far: an acceptor that sees this grow waits before accepting again.
    total: AtomicUsize,
    /// Per hub, failures since a handler last started there; 0 while handlers start. Per hub,
    /// because one hub may run out of stacks while another still has some in its pool: a
    /// server-wide streak would end and begin again at every connection.
    streaks: Box<[AtomicUsize]>,
}

impl StartFailures {
    pub(super) fn new(hubs: usize) -> StartFailures {
        StartFailures {
            total: AtomicUsize::new(0),
            streaks: (0..hubs.max(1)).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    pub(super) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether handlers fail to start on some hub.
    pub(super) fn failing(&self) -> bool {
        self.streaks.iter().any(|s| s.load(Ordering::Relaxed) != 0)
    }

    /// The streak of the hub this runs on.
    fn streak(&self) -> (usize, &AtomicUsize) {
        let hub = crate::current_hub().unwrap_or(0) % self.streaks.len();
        (hub, &self.streaks[hub])
    }

    pub(super) fn failed(&self, err: &io::Error) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let (hub, streak) = self.streak();
        if streak.fetch_add(1, Ordering::Relaxed) == 0 {
            log::warn!(
                "greenhub StreamServer: cannot start a handler on hub {hub} ({err}); closing new \
                 connections there and backing off until one can start"
            );
        }
    }

    pub(super) fn started(&self) {
        let (hub, streak) = self.streak();
        // One load on the common path; the swap only after failures.
        if streak.load(Ordering::Relaxed) != 0 {
            let closed = streak.swap(0, Ordering::Relaxed);
            if closed > 0 {
                log::info!(
                    "greenhub StreamServer: handlers start again on hub {hub}; {closed} \
                     connections were closed unserved meanwhile"
                );
            }
        }
    }
}

/// The pause before an acceptor tries again after a lack of resources: from
/// [`StreamServer::MIN_BACKOFF`](super::StreamServer::MIN_BACKOFF), doubling up to [`StreamServer::MAX_BACKOFF`](super::StreamServer::MAX_BACKOFF).
pub(super) struct Backoff {
    pub(super) delay: Duration,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff {
            delay: StreamServer::MIN_BACKOFF,
        }
    }

    pub(super) fn wait(&mut self) {
        crate::sleep(self.delay);
        self.delay = (self.delay * 2).min(StreamServer::MAX_BACKOFF);
    }

    pub(super) fn reset(&mut self) {
        self.delay = StreamServer::MIN_BACKOFF;
    }
}
