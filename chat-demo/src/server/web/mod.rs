//! The chat in a browser: one page at `/` and a WebSocket at `/ws`, on the same green-thread
//! server as the line protocol. A browser is one more session (`session.rs`): the same rooms,
//! nicks, commands, bounded queue, limits and slow-reader rule; only the framing differs.
//!
//! ```text
//!   browser ── HTTP GET / ──► http.rs: head read under limits ──► the page (page.html, .css, .js)
//!   browser ── GET /ws, Upgrade ──► 101 ──► session.rs, with
//!        reader green thread: reader.rs, tungstenite decodes frames ──► lines, as from nc
//!        writer green thread: writer.rs, each queued line ──► one text frame; pings, pongs
//!                             and the closing frame go out here too: one writer per socket
//! ```
//!
//! tungstenite decodes what the browser sends (masking, fragments, control frames, UTF-8,
//! size limits) over a plain `Read`; everything sent goes through the writer, so no frame is
//! ever split by another. httparse parses the request heads.

mod http;
mod reader;

pub(super) use reader::MessageReader;

use super::connection::Connection;
use super::Chat;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};

/// The web side's own limits (the chat's limits apply to browsers as to everyone).
///
/// # Examples
///
/// ```
/// use chat_demo::server::{Config, WebLimits};
/// use std::time::Duration;
/// let config = Config {
///     web: WebLimits { ping_interval: Duration::from_secs(5), ..WebLimits::default() },
///     ..Config::default()
/// };
/// assert_eq!(config.web.max_headers, 32);
/// ```
#[derive(Debug, Clone)]
pub struct WebLimits {
    /// The longest request head (request line and headers), in bytes; longer ones get 431.
    pub max_head_bytes: usize,
    /// Headers per request; more get 431.
    pub max_headers: usize,
    /// A request head must arrive whole within this long of the connection.
    pub request_timeout: Duration,
    /// The longest WebSocket message or frame, in bytes. A message longer than the chat's
    /// `max_line` but within this is discarded with an error, as an overlong line is; a longer
    /// one closes the connection (status 1009), since it cannot be skipped without reading it.
    pub max_message: usize,
    /// A browser is pinged this often, whether its room is busy or quiet.
    pub ping_interval: Duration,
    /// A browser from which nothing (not even a pong) has come for the ping interval and
    /// this long is disconnected.
    pub pong_timeout: Duration,
}

impl Default for WebLimits {
    fn default() -> WebLimits {
        WebLimits {
            max_head_bytes: 8 * 1024,
            max_headers: 32,
            request_timeout: Duration::from_secs(10),
            max_message: 64 * 1024,
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(20),
        }
    }
}

/// A queue entry that carries no line: it wakes the writer to send what [`Control`] holds (a
/// pong). Every real entry ends with `\n`, so it cannot be mistaken for one.
pub(super) const WAKE: &str = "";

/// RFC 6455 close status: the endpoint is going away (the session ended, the server stops).
pub(super) const GOING_AWAY: u16 = 1001;
/// RFC 6455 close status: the peer broke a rule (here: it stopped reading).
pub(super) const POLICY_VIOLATION: u16 = 1008;
/// RFC 6455 close status: a message too big to process.
pub(super) const TOO_BIG: u16 = 1009;
/// RFC 6455 close status: the peer broke the protocol.
pub(super) const PROTOCOL_ERROR: u16 = 1002;

/// What a browser session's reader asks of its writer, besides lines.
pub(super) struct Control {
    /// The payload of the last ping the browser sent, to be answered (RFC 6455 asks only the
    /// last one to be).
    pong: Mutex<Option<Vec<u8>>>,
    close_code: AtomicU16,
    ping_interval: Duration,
}

impl Control {
    pub(super) fn new(ping_interval: Duration) -> Control {
        Control {
            pong: Mutex::new(None),
            close_code: AtomicU16::new(GOING_AWAY),
            ping_interval,
        }
    }

    pub(super) fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// The status the closing frame will carry.
    pub(super) fn close_code(&self) -> u16 {
        self.close_code.load(Ordering::Acquire)
    }

    pub(super) fn set_close_code(&self, code: u16) {
        self.close_code.store(code, Ordering::Release);
    }

    /// Keeps `payload` to be answered; returns whether a wake-up is needed (none was pending).
    pub(super) fn answer_ping(&self, payload: Vec<u8>) -> bool {
        let mut pong = self.pong.lock().unwrap_or_else(PoisonError::into_inner);
        pong.replace(payload).is_none()
    }

    /// Appends what one queue entry puts on the wire: the pending pong, if any, then a text
    /// frame (none for [`WAKE`]). The pong goes out with whatever entry comes first, so a
    /// wake-up lost to a full queue loses nothing: a full queue has entries coming.
    pub(super) fn encode(&self, entry: &str, out: &mut Vec<u8>) {
        let pong = self
            .pong
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(payload) = pong {
            format(Frame::pong(payload), out);
        }
        if entry == WAKE {
            return;
        }
        // The page shows each line of an entry (a `/who` listing has several).
        let text = entry.strip_suffix('\n').unwrap_or(entry);
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        };
        // Writing to a Vec cannot fail.
        let _ = header.format(text.len() as u64, out);
        out.extend_from_slice(text.as_bytes());
    }
}

fn format(frame: Frame, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = frame.format(out);
}

/// One text frame carrying `text`.
pub(super) fn text_frame(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Control::new(Duration::ZERO).encode(text, &mut out);
    out
}

/// A closing frame with `code` and `reason`.
pub(super) fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let close = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    format(Frame::close(Some(close)), &mut out);
    out
}

/// A keep-alive ping.
pub(super) fn ping_frame() -> Vec<u8> {
    let mut out = Vec::new();
    format(Frame::ping(&b"greenhub"[..]), &mut out);
    out
}

impl Chat {
    /// One connection to the web port, at the door: a browser's connections (the page, then
    /// the WebSocket) count against the same limits as everyone's.
    pub(super) fn browser(self: &Arc<Self>, conn: Connection, peer: SocketAddr) {
        let admitted = match self.admissions.admit(peer.ip()) {
            Ok(admission) => admission,
            Err(refusal) => {
                let _ = http::unavailable(refusal).send(&conn, self.config.slow_grace);
                return;
            }
        };
        self.web_connection(conn, peer);
        // The connection is closed: only now is its place free.
        drop(admitted);
    }

    /// One connection to the web port: a request for the page, answered and closed, or an
    /// upgrade to a WebSocket, which becomes a chat session.
    fn web_connection(self: &Arc<Self>, conn: Connection, peer: SocketAddr) {
        let limits = &self.config.web;
        let request = match http::read_request(&conn, limits) {
            Ok(request) => request,
            Err(http::Refused(None)) => return,
            Err(http::Refused(Some(response))) => {
                log::debug!("web client {peer}: {}", response.status_line());
                let _ = response.send(&conn, self.config.slow_grace);
                return;
            }
        };
        match http::route(&request) {
            http::Route::Upgrade(response, leftover) => {
                if response.send(&conn, self.config.slow_grace).is_err() {
                    return;
                }
                let transport = super::session::Transport::WebSocket(leftover);
                if let Err(err) = self.session(conn, transport) {
                    log::debug!("web client {peer}: {err}");
                }
            }
            http::Route::Respond(response) => {
                let _ = response.send(&conn, self.config.slow_grace);
            }
        }
    }
}
