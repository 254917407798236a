//! Two clocks on a client's reads: an idle timeout (nothing arrives at all) and a line timeout
//! (a line that has started must finish). Without the second, a client trickling one byte a
//! second (slowloris) would reset the idle clock forever and hold its connection and its
//! partial line indefinitely.
//!
//! The line clock starts when a line's first byte arrives, not when the read that brought it
//! began: a read may wait out most of the idle timeout before anything comes, and that silence
//! is the idle clock's business. Both durations are the caller's (`Config` in the server), so
//! tests run them short.

use greenhub::net::TcpStream;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The error text of a read that timed out because the client sent nothing.
pub const IDLE_TIMEOUT: &str = "idle timeout";
/// The error text of a read that timed out because a started line did not finish in time.
pub const LINE_TIMEOUT: &str = "line timeout";

/// Reads from a stream under both clocks; a read that runs out of time fails with
/// `ErrorKind::TimedOut` and [`IDLE_TIMEOUT`] or [`LINE_TIMEOUT`] as its text.
///
/// # Examples
///
/// ```
/// use chat_demo::deadline::{Deadlines, LINE_TIMEOUT};
/// use std::io::{Read, Write};
/// use std::time::Duration;
///
/// greenhub::run(|| -> std::io::Result<()> {
///     let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
///     let mut client = greenhub::net::TcpStream::connect(listener.local_addr()?)?;
///     let (server, _) = listener.accept()?;
///     client.write_all(b"half a li")?; // and never the rest
///     let mut reads = Deadlines::new(&server, Duration::from_secs(60), Duration::from_millis(50));
///     let mut buf = [0u8; 64];
///     assert_eq!(reads.read(&mut buf)?, 9);
///     let err = reads.read(&mut buf).unwrap_err();
///     assert_eq!(err.to_string(), LINE_TIMEOUT);
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Deadlines<'a, S = TcpStream> {
    stream: &'a S,
    idle: Duration,
    line: Duration,
    /// When the first byte of the unfinished line arrived.
    line_started: Option<Instant>,
}

/// A stream whose reads can be given a timeout, as [`TcpStream::set_read_timeout`] does, so
/// that [`Deadlines`] can run over it (the server's TLS connections implement it too).
///
/// # Examples
///
/// ```
/// use chat_demo::deadline::ReadTimeout;
/// fn patient(stream: &impl ReadTimeout) -> std::io::Result<()> {
///     stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))
/// }
/// ```
pub trait ReadTimeout {
    /// Makes reads that wait longer than `timeout` fail with `ErrorKind::TimedOut`.
    ///
    /// # Errors
    ///
    /// What the socket option reports (a zero timeout is refused).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl ReadTimeout for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl<'a, S> Deadlines<'a, S> {
    /// Reads from `stream`, allowing `idle` of silence and `line` for a line to finish.
    pub fn new(stream: &'a S, idle: Duration, line: Duration) -> Deadlines<'a, S> {
        Deadlines {
            stream,
            idle,
            line,
            line_started: None,
        }
    }
}

impl<S: ReadTimeout> Read for Deadlines<'_, S>
where
    for<'b> &'b S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let now = Instant::now();
        let line_left = self
            .line_started
            .map(|started| (started + self.line).saturating_duration_since(now));
        let (timeout, clock) = match line_left {
            Some(left) if left < self.idle => (left, LINE_TIMEOUT),
            _ => (self.idle, IDLE_TIMEOUT),
        };
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, clock));
        }
        self.stream.set_read_timeout(Some(timeout))?;
        match (&*self.stream).read(buf) {
            Ok(n) => {
                let got = &buf[..n];
                if got.ends_with(b"\n") {
                    self.line_started = None;
                } else if n > 0 && (self.line_started.is_none() || got.contains(&b'\n')) {
                    // A new line began in this chunk: its clock starts now that its first byte
                    // is here, not at `now`, when this read began to wait.
                    self.line_started = Some(Instant::now());
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                Err(io::Error::new(io::ErrorKind::TimedOut, clock))
            }
            Err(e) => Err(e),
        }
    }
}
