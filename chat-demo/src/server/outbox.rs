//! A client's outbound queue, bounded twice: in lines (`Config::queue`) and in bytes
//! (`Config::sendq_bytes`, IRC's "sendq"). Lines are shared (`Arc<str>`): a room line is one
//! allocation however many queues hold it, and each queue counts its full length, so the
//! bytes one client can pin are bounded whatever others do.
//!
//! A line that does not fit is refused by [`Outbox::try_send`] (a private message is then
//! refused to its sender) or waited for by [`Outbox::send`] (room lines and a client's own
//! replies), while the writer decides whether the client is too slow (see `writer.rs`): a
//! queue is *full*, for that rule, when the last line offered to it did not fit and nothing
//! has been taken from it since.

use greenhub::sync::{bounded, Event, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a waiting sender sleeps before it looks again, should it miss a wake-up.
const RECHECK: Duration = Duration::from_millis(100);

/// What both ends share.
struct Sendq {
    bytes: AtomicUsize,
    limit: usize,
    capacity: usize,
    /// Set when a line did not fit; cleared when the writer takes one.
    wanted_room: AtomicBool,
    /// Set by the writer each time it takes a line, and when it is gone.
    drained: Event,
    closed: AtomicBool,
}

/// The sending end; clone it for every room and directory entry that lists the client.
#[derive(Clone)]
pub(super) struct Outbox {
    lines: Sender<Arc<str>>,
    sendq: Arc<Sendq>,
}

/// The writer's end.
pub(super) struct Inbox {
    lines: Receiver<Arc<str>>,
    sendq: Arc<Sendq>,
}

/// Nothing came within the time given.
#[derive(Debug)]
pub(super) struct Elapsed;

/// The client is gone: its writer ended.
#[derive(Debug)]
pub(super) struct Gone;

/// A queue of at most `capacity` lines and `limit` bytes (a single line longer than `limit`
/// still goes into an empty queue).
pub(super) fn outbox(capacity: usize, limit: usize) -> (Outbox, Inbox) {
    let (sender, receiver) = bounded(capacity.max(1));
    let sendq = Arc::new(Sendq {
        bytes: AtomicUsize::new(0),
        limit,
        capacity: capacity.max(1),
        wanted_room: AtomicBool::new(false),
        drained: Event::new(),
        closed: AtomicBool::new(false),
    });
    let inbox = Inbox {
        lines: receiver,
        sendq: sendq.clone(),
    };
    (
        Outbox {
            lines: sender,
            sendq,
        },
        inbox,
    )
}

impl Outbox {
    /// Queues `line` if it fits.
    pub(super) fn try_send(&self, line: Arc<str>) -> Result<(), TrySendError<Arc<str>>> {
        let sendq = &*self.sendq;
        if sendq.closed.load(Ordering::Acquire) {
            return Err(TrySendError::Disconnected(line));
        }
        let before = sendq.bytes.fetch_add(line.len(), Ordering::AcqRel);
        if before > 0 && before + line.len() > sendq.limit {
            sendq.bytes.fetch_sub(line.len(), Ordering::AcqRel);
            sendq.wanted_room.store(true, Ordering::Release);
            return Err(TrySendError::Full(line));
        }
        let len = line.len();
        self.lines.try_send(line).inspect_err(|err| {
            sendq.bytes.fetch_sub(len, Ordering::AcqRel);
            if matches!(err, TrySendError::Full(_)) {
                sendq.wanted_room.store(true, Ordering::Release);
            }
        })
    }

    /// Queues `line`, waiting while it does not fit.
    ///
    /// # Errors
    ///
    /// When the client is gone.
    pub(super) fn send(&self, mut line: Arc<str>) -> Result<(), Gone> {
        loop {
            self.sendq.drained.clear();
            match self.try_send(line) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(Gone),
                Err(TrySendError::Full(back)) => {
                    line = back;
                    self.sendq.drained.wait_timeout(RECHECK);
                }
            }
        }
    }

    /// Whether half the queue's lines or bytes are taken: time to let its writer run.
    pub(super) fn is_half_full(&self) -> bool {
        let sendq = &*self.sendq;
        self.lines.len() * 2 >= sendq.capacity
            || sendq.bytes.load(Ordering::Acquire) * 2 >= sendq.limit
    }
}

impl Inbox {
    fn took(&self, line: Arc<str>) -> Arc<str> {
        self.sendq.bytes.fetch_sub(line.len(), Ordering::AcqRel);
        self.sendq.wanted_room.store(false, Ordering::Release);
        self.sendq.drained.set();
        line
    }

    /// The next line, waiting for one; `None` once every [`Outbox`] is dropped.
    pub(super) fn recv(&self) -> Option<Arc<str>> {
        self.lines.recv().ok().map(|line| self.took(line))
    }

    /// The next line, waiting for one up to `timeout`: `Err` when none came in time,
    /// `Ok(None)` once every [`Outbox`] is dropped.
    pub(super) fn recv_timeout(&self, timeout: Duration) -> Result<Option<Arc<str>>, Elapsed> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(Some(self.took(line))),
            Err(RecvTimeoutError::Timeout) => Err(Elapsed),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        }
    }

    /// The next line if one is queued.
    pub(super) fn try_recv(&self) -> Option<Arc<str>> {
        self.lines.try_recv().ok().map(|line| self.took(line))
    }

    /// Whether the last line offered did not fit and nothing was taken since.
    pub(super) fn is_full(&self) -> bool {
        self.sendq.wanted_room.load(Ordering::Acquire)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // Senders waiting for room are let go: the client is gone.
        self.sendq.closed.store(true, Ordering::Release);
        self.sendq.drained.set();
    }
}
