//! A browser session's reader: WebSocket messages in, lines out, for the same session loop
//! that reads lines from nc. tungstenite decodes the frames (unmasking, fragments, control
//! frames, UTF-8, the size limits); it gets a stream it can read but not write, since the
//! writer green thread alone writes the socket: pongs are handed to it through [`Control`].
//!
//! Two clocks: a message that has started must finish within the chat's line timeout (as a
//! line must), and a browser from which nothing at all has come for the ping interval plus
//! the pong timeout is gone. A browser answers pings by itself, so an open tab stays
//! connected however long its user is silent, as an IRC client that answers PING does.

use super::super::connection::Connection;
use super::super::outbox::Outbox;
use super::super::Config;
use super::{Control, PROTOCOL_ERROR, TOO_BIG, WAKE};
use crate::deadline::LINE_TIMEOUT;
use crate::framing::Incoming;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::error::ProtocolError;
use tungstenite::protocol::{Message, Role, WebSocketConfig, WebSocketContext};

/// The error text of a read that timed out because the browser stopped answering pings.
pub(in crate::server) const KEEPALIVE_TIMEOUT: &str = "keep-alive timeout";

/// RFC 6455 close status: a text message that is not UTF-8.
const INVALID_PAYLOAD: u16 = 1007;

/// Reads a browser's lines; see the module docs.
pub(in crate::server) struct MessageReader<'a> {
    context: WebSocketContext,
    wire: Wire<'a>,
    control: Arc<Control>,
    /// Only to wake the writer for a pong.
    outbox: Outbox,
    lines: VecDeque<Incoming>,
    max_line: usize,
}

impl<'a> MessageReader<'a> {
    /// Reads from `conn`, whose upgrade left `leftover` bytes read past the request.
    pub(in crate::server) fn new(
        conn: &'a Connection,
        leftover: Vec<u8>,
        control: Arc<Control>,
        outbox: Outbox,
        config: &Config,
    ) -> MessageReader<'a> {
        let limits = &config.web;
        // tungstenite's default read buffer is 128 KiB: thousands of idle tabs would hold
        // that each. Reads of a few KB cost a browser's burst a few more system calls.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(limits.max_message))
            .max_frame_size(Some(limits.max_message));
        let now = Instant::now();
        MessageReader {
            context: WebSocketContext::from_partially_read(leftover, Role::Server, Some(ws_config)),
            wire: Wire {
                conn,
                keepalive: limits.ping_interval + limits.pong_timeout,
                message: config.line_timeout,
                last_frame: now,
                message_started: None,
            },
            control,
            outbox,
            lines: VecDeque::new(),
            max_line: config.max_line,
        }
    }

    /// The next line a browser sent, or `None` once it closed the WebSocket.
    ///
    /// # Errors
    ///
    /// A read that timed out (`TimedOut`, with [`LINE_TIMEOUT`] or [`KEEPALIVE_TIMEOUT`] as
    /// its text), a broken rule of the protocol or a message over the size limit
    /// (`InvalidData`; the closing frame then says which), or what the socket reports.
    // ANCHOR: next_line
    pub(in crate::server) fn next_line(&mut self) -> io::Result<Option<Incoming>> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Ok(Some(line));
            }
            let message = match self.context.read(&mut self.wire) {
                Ok(message) => message,
                Err(err) => return self.failed(err),
            };
            self.wire.last_frame = Instant::now();
            self.wire.message_started = None;
            match message {
                Message::Text(text) => {
                    // One message is usually one line; one with several is taken line by
                    // line, each under the line limit, as from a pasting terminal.
                    for line in text.as_str().split('\n') {
                        let line = line.strip_suffix('\r').unwrap_or(line);
                        self.lines.push_back(if line.len() > self.max_line {
                            Incoming::TooLong
                        } else {
                            Incoming::Line(line.to_string())
                        });
                    }
                }
                // The chat is text: a binary message is discarded as a line that is not
                // UTF-8 is.
                Message::Binary(_) => self.lines.push_back(Incoming::InvalidUtf8),
                Message::Ping(payload) => {
                    if self.control.answer_ping(payload.to_vec()) {
                        // A full queue loses only the wake-up: the writer sends the pong
                        // with the next entry it takes.
                        let _ = self.outbox.try_send(Arc::from(WAKE));
                    }
                }
                Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(_) => return Ok(None),
            }
        }
    }
    // ANCHOR_END: next_line

    fn failed(&mut self, err: tungstenite::Error) -> io::Result<Option<Incoming>> {
        use tungstenite::Error;
        let (code, why) = match err {
            Error::Io(err) => return Err(err),
            // The browser went away without a closing frame, or the server shut the reads
            // down: the session ends, and its closing frame says "going away".
            Error::ConnectionClosed
            | Error::AlreadyClosed
            | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return Ok(None),
            Error::Capacity(err) => (TOO_BIG, err.to_string()),
            Error::Utf8(err) => (INVALID_PAYLOAD, err),
            Error::Protocol(err) => (PROTOCOL_ERROR, err.to_string()),
            other => (PROTOCOL_ERROR, other.to_string()),
        };
        self.control.set_close_code(code);
        Err(io::Error::new(io::ErrorKind::InvalidData, why))
    }
}

/// The socket as tungstenite sees it: reads under the two clocks, writes that go nowhere.
struct Wire<'a> {
    conn: &'a Connection,
    keepalive: Duration,
    message: Duration,
    /// When the last whole frame (a message, a ping, a pong) arrived.
    last_frame: Instant,
    /// When the first byte of the unfinished message arrived.
    message_started: Option<Instant>,
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let keepalive = (self.last_frame + self.keepalive, KEEPALIVE_TIMEOUT);
        let message = self
            .message_started
            .map(|started| (started + self.message, LINE_TIMEOUT));
        let (deadline, clock) = match message {
            Some(message) if message.0 < keepalive.0 => message,
            _ => keepalive,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, clock));
        }
        self.conn.set_read_timeout(Some(left))?;
        match (&*self.conn).read(buf) {
            Ok(n) => {
                if n > 0 && self.message_started.is_none() {
                    self.message_started = Some(Instant::now());
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

/// What tungstenite writes by itself (its automatic pong and closing replies) is dropped:
/// the writer green thread sends the pong (see [`Control`]) and the closing frame, and it
/// alone writes the socket, so no frame can be split by another.
impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
