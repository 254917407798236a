//! Flood control that slows the sender down instead of dropping its lines or harming its
//! receivers: IRC's "fakelag". Each line is charged against two token buckets, lines and
//! bytes, and a command that costs the server more (`/who`, `/rooms`, `/msg`) is charged as
//! several lines. A client that has spent its buckets is not refused: its reader sleeps until
//! the debt is paid, so what it sends waits in its own socket buffers (and then in its own
//! kernel), and everyone else is served as before.

use crate::command::Command;
use std::time::{Duration, Instant};

/// What a command costs, in lines of the line bucket.
pub(super) fn cost(command: &Command) -> f64 {
    match command {
        // They walk the directory (under its lock) and answer with several lines.
        Command::Who | Command::Rooms(_) => 5.0,
        // A lookup under the directory's lock, and a line into a stranger's queue.
        Command::Msg { .. } => 2.0,
        _ => 1.0,
    }
}

/// One token bucket that may go into debt.
struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
}

impl Bucket {
    fn new(per_second: f64, burst: f64) -> Bucket {
        Bucket {
            per_second,
            burst,
            tokens: burst,
        }
    }

    /// Refills for `elapsed`, takes `cost`, and says how long until the bucket is out of debt.
    fn charge(&mut self, elapsed: Duration, cost: f64) -> Duration {
        if self.per_second <= 0.0 {
            return Duration::ZERO;
        }
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        self.tokens -= cost;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

/// A client's two buckets.
pub(super) struct Throttle {
    lines: Bucket,
    bytes: Bucket,
    last: Instant,
    /// Inside a throttled burst (from its first delayed line until the client is calm again):
    /// one notice per burst.
    throttled: bool,
}

/// How a line was charged.
pub(super) struct Charge {
    /// How long the reader sleeps before it acts on the line.
    pub(super) delay: Duration,
    /// Whether this line starts a throttled burst (tell the client, once).
    pub(super) first_delayed: bool,
}

impl Throttle {
    /// `lines` a second in bursts of as many, `bytes` a second in bursts of `byte_burst`; 0
    /// turns a bucket off.
    pub(super) fn new(lines: u32, bytes: u32, byte_burst: usize) -> Throttle {
        Throttle {
            lines: Bucket::new(f64::from(lines), f64::from(lines.max(1))),
            bytes: Bucket::new(f64::from(bytes), byte_burst as f64),
            last: Instant::now(),
            throttled: false,
        }
    }

    /// Charges a line of `len` bytes costing `cost` lines.
    pub(super) fn charge(&mut self, cost: f64, len: usize) -> Charge {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last);
        self.last = now;
        let delay = self
            .lines
            .charge(elapsed, cost)
            .max(self.bytes.charge(elapsed, len as f64 + 1.0));
        let delayed = !delay.is_zero();
        let first_delayed = delayed && !self.throttled;
        // A burst ends once the client has been calm long enough to refill half its line
        // bucket, not at the first line that happens to find a token: a reader whose sleep on
        // the debt overshoots (a busy machine) would otherwise end and restart the burst, and
        // the client would be told twice.
        if delayed {
            self.throttled = true;
        } else if self.lines.tokens >= self.lines.burst / 2.0 {
            self.throttled = false;
        }
        Charge {
            delay,
            first_delayed,
        }
    }

    /// Time has passed while the reader slept on the debt: what was owed is paid.
    pub(super) fn slept(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last);
        self.last = now;
        self.lines.charge(elapsed, 0.0);
        self.bytes.charge(elapsed, 0.0);
    }
}
