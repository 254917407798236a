//! A client's writer green thread: it drains the client's bounded outbox (`outbox.rs`) into its socket, and
//! it is the one that decides whether the client is too slow, because only it can see whether
//! the socket still accepts bytes.
//!
//! A full outbox alone proves nothing: in a burst, the readers woken by one poll can fill every
//! queue before any writer has run, while the kernel's buffers could take it all. So a client
//! is dropped only when both hold: its outbox is full, and its socket has accepted nothing for
//! the grace period (the writer is parked on a kernel buffer that the client does not drain).
//! Senders that meet a full outbox wait for room meanwhile, so the grace period also bounds how
//! long one stuck client can hold a room up, once.
//!
//! The same rule ends the writer of a session that is over: once nobody can add to the outbox,
//! a socket that accepts nothing for the grace period is given up on, so a session never waits
//! forever for its writer.
//!
//! The writer is the only green thread that writes its client's socket once the session has
//! begun, whatever the framing: for a browser, every queued line becomes one WebSocket text
//! frame, and the keep-alive pings, the pongs the reader asks for and the closing frame go out
//! here too, so no two frames can ever interleave on the wire.

use super::connection::Connection;
use super::outbox::Inbox;
use super::web::{self, Control};
use std::cell::Cell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What queued up while the writer waited goes out in one write of up to this many bytes.
const WRITE_BATCH: usize = 16 * 1024;

/// Told to a client that is dropped as too slow, if its socket takes it.
const TOO_SLOW: &[u8] = b"\n!!! you stopped reading and your queue filled up; disconnecting\n";

/// How queued lines go on the wire.
pub(super) enum Framing {
    /// As they are: text lines ending in `\n`.
    Lines,
    /// One WebSocket text frame each, with keep-alive pings (see `web/`).
    WebSocket(Arc<Control>),
}

/// What the session and the writer tell each other.
#[derive(Default)]
struct Flags {
    /// Set by the writer: it gave up on the client as too slow.
    too_slow: AtomicBool,
    /// Set by the session: it is over, nothing more will be queued.
    session_over: AtomicBool,
}

/// The handle a session keeps on its writer.
pub(super) struct Writer {
    green_thread: greenhub::JoinHandle<()>,
    flags: Arc<Flags>,
}

impl Writer {
    /// Starts the writer of `stream`, draining `queue`; `grace` is how long the socket may
    /// accept nothing while the queue is full.
    pub(super) fn start(
        stream: Arc<Connection>,
        queue: Inbox,
        grace: Duration,
        framing: Framing,
    ) -> Writer {
        let flags = Arc::new(Flags::default());
        let ping_interval = match &framing {
            Framing::WebSocket(control) => control.ping_interval(),
            Framing::Lines => Duration::ZERO,
        };
        let drain = Drain {
            stream,
            framing,
            queue,
            grace,
            flags: flags.clone(),
            next_ping: Cell::new(Instant::now() + ping_interval),
        };
        Writer {
            green_thread: greenhub::spawn(move || drain.run()),
            flags,
        }
    }

    /// Whether the writer gave up on the client as too slow (and shut its socket down).
    pub(super) fn found_it_too_slow(&self) -> bool {
        self.flags.too_slow.load(Ordering::Acquire)
    }

    /// Waits for the writer to flush what is queued, once the session has dropped every
    /// sender of the outbox. Returns within the grace period of the socket last accepting
    /// bytes, whatever the client does.
    pub(super) fn finish(self) {
        self.flags.session_over.store(true, Ordering::Release);
        let _ = self.green_thread.join();
    }
}

/// The writer green thread's state.
struct Drain {
    stream: Arc<Connection>,
    framing: Framing,
    queue: Inbox,
    grace: Duration,
    flags: Arc<Flags>,
    /// When a browser's writer sends its next keep-alive ping.
    next_ping: Cell<Instant>,
}

/// Why the writer stopped before the outbox closed.
enum Stop {
    TooSlow,
    Failed(io::Error),
}

impl Drain {
    fn run(self) {
        // Writes wake up four times per grace period to look at the rule; a write that moves
        // bytes is not cut short.
        let tick = (self.grace / 4).max(Duration::from_millis(1));
        if let Err(err) = self.stream.set_write_timeout(Some(tick)) {
            log::debug!("writer: cannot set a write timeout: {err}");
            return;
        }
        let stopped = loop {
            let Some(first) = (match self.next_entry() {
                Ok(entry) => entry,
                Err(stop) => break Some(stop),
            }) else {
                break None;
            };
            // Lines that queued up while this writer waited go out in one system call. The
            // batch buffer lives only while there is a backlog: an idle client holds none.
            let written = match (&self.framing, self.queue.try_recv()) {
                (Framing::Lines, None) => self.write_out(first.as_bytes()),
                (_, second) => {
                    let mut batch = Vec::with_capacity(WRITE_BATCH);
                    self.encode(&first, &mut batch);
                    if let Some(second) = second {
                        self.encode(&second, &mut batch);
                    }
                    while batch.len() < WRITE_BATCH {
                        let Some(next) = self.queue.try_recv() else {
                            break;
                        };
                        self.encode(&next, &mut batch);
                    }
                    self.write_out(&batch)
                }
            };
            if let Err(stop) = written {
                break Some(stop);
            }
        };
        match stopped {
            None => {
                // The session is over and its queue flushed: a browser gets the closing
                // frame (the shutdown notice went out just before it).
                if let Framing::WebSocket(control) = &self.framing {
                    let _ = self.write_out(&web::close_frame(control.close_code(), ""));
                }
            }
            Some(Stop::TooSlow) => {
                self.flags.too_slow.store(true, Ordering::Release);
                // Best effort: the kernel buffer is full, so this rarely gets through,
                // and it must not hold anyone up.
                let _ = self
                    .stream
                    .set_write_timeout(Some(Duration::from_millis(10)));
                let mut goodbye = Vec::new();
                match self.framing {
                    Framing::Lines => goodbye.extend_from_slice(TOO_SLOW),
                    Framing::WebSocket(_) => {
                        let text = String::from_utf8_lossy(TOO_SLOW);
                        goodbye.extend(web::text_frame(text.trim()));
                        goodbye.extend(web::close_frame(web::POLICY_VIOLATION, "too slow"));
                    }
                }
                let _ = (&*self.stream).write(&goodbye);
                let _ = (&*self.stream).flush();
            }
            Some(Stop::Failed(err)) => log::debug!("writer: {err}"),
        }
        // Ends the session's reads too, if it is still reading: it then leaves the rooms.
        // Senders waiting for room in the outbox are let go when `self.queue` drops here.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    // ANCHOR: next_entry
    /// The next queued entry, or `None` once the session is over and the queue empty. A
    /// browser's writer pings it every ping interval, busy or not: a browser that only
    /// listens to a busy room sends nothing but its pongs, and they are what keeps it.
    fn next_entry(&self) -> Result<Option<Arc<str>>, Stop> {
        let Framing::WebSocket(control) = &self.framing else {
            return Ok(self.queue.recv());
        };
        loop {
            if Instant::now() >= self.next_ping.get() {
                self.write_out(&web::ping_frame())?;
                self.next_ping.set(Instant::now() + control.ping_interval());
            }
            let wait = self
                .next_ping
                .get()
                .saturating_duration_since(Instant::now());
            // Nothing in time (`Elapsed`): the ping is due.
            if let Ok(entry) = self.queue.recv_timeout(wait) {
                return Ok(entry);
            }
        }
    }

    /// Appends what one queue entry puts on the wire.
    fn encode(&self, entry: &str, out: &mut Vec<u8>) {
        match &self.framing {
            Framing::Lines => out.extend_from_slice(entry.as_bytes()),
            Framing::WebSocket(control) => control.encode(entry, out),
        }
    }
    // ANCHOR_END: next_entry

    // ANCHOR: too_slow
    /// After a write timed out: the client is too slow once its socket has accepted nothing
    /// for the grace period while its queue is full (or its session is over and nobody else
    /// waits for the write to finish).
    fn too_slow(&self, accepted_at: Instant) -> bool {
        let stuck = accepted_at.elapsed() >= self.grace;
        let nobody_waits = self.flags.session_over.load(Ordering::Acquire);
        stuck && (self.queue.is_full() || nobody_waits)
    }

    /// Writes all of `bytes`, unless the client turns out to be too slow (see the module
    /// docs) or the socket fails.
    fn write_out(&self, mut bytes: &[u8]) -> Result<(), Stop> {
        let mut accepted_at = Instant::now();
        while !bytes.is_empty() {
            match (&*self.stream).write(bytes) {
                Ok(0) => return Err(Stop::Failed(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    bytes = &bytes[n..];
                    accepted_at = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if self.too_slow(accepted_at) {
                        return Err(Stop::TooSlow);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
        // TLS keeps the tail of a write in its session until it is flushed; the same rule
        // decides how long the flush may wait.
        while self.stream.buffers_writes() {
            match (&*self.stream).flush() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if self.too_slow(accepted_at) {
                        return Err(Stop::TooSlow);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
        Ok(())
    }
    // ANCHOR_END: too_slow
}
