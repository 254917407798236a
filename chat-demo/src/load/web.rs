//! The load's browser-like clients: a WebSocket to the chat's web port, the same numbered
//! lines in text frames. The client side is written by hand on the same pieces the server
//! uses (httparse for the 101, tungstenite for frames), so that the bytes read past the
//! handshake (the server's welcome may come in the same packet) are kept.

use greenhub::net::TcpStream;
use greenhub::sync::Mutex;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::{Message, Role, WebSocketConfig, WebSocketContext};

/// The longest response head to the upgrade request.
const MAX_HEAD: usize = 8 * 1024;

/// One WebSocket client connection; a reader and a sender green thread may share it.
pub(super) struct WebLink {
    stream: TcpStream,
    /// Held for each whole frame written: the reader's pongs and the sender's lines never
    /// split each other's frames.
    writing: Mutex<()>,
    /// Bytes read past the 101, for the reader.
    leftover: std::sync::Mutex<Vec<u8>>,
    masks: AtomicU32,
}

impl WebLink {
    /// Connects to `ws://addr/ws` and completes the handshake.
    pub(super) fn connect(addr: &str, stream: TcpStream) -> io::Result<WebLink> {
        let key = "Z3JlZW5odWIgbG9hZCBrZXk="; // any 16 bytes in base64
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        );
        (&stream).write_all(request.as_bytes())?;
        let mut head = Vec::new();
        let mut chunk = [0u8; 1024];
        let leftover = loop {
            let n = (&stream).read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            head.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&head).map_err(io::Error::other)? {
                httparse::Status::Complete(len) => {
                    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
                    let accepted = response.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("sec-websocket-accept")
                            && h.value == accept.as_bytes()
                    });
                    if response.code != Some(101) || !accepted {
                        let text = String::from_utf8_lossy(&head[..len]).into_owned();
                        return Err(io::Error::other(format!("no upgrade: {text}")));
                    }
                    break head[len..].to_vec();
                }
                httparse::Status::Partial if head.len() > MAX_HEAD => {
                    return Err(io::Error::other("the upgrade response is too long"))
                }
                httparse::Status::Partial => {}
            }
        };
        Ok(WebLink {
            stream,
            writing: Mutex::new(()),
            leftover: std::sync::Mutex::new(leftover),
            masks: AtomicU32::new(0x9E37_79B9),
        })
    }

    /// Sends each `\n`-terminated line of `text` as a text frame, in one write.
    pub(super) fn send_lines(&self, text: &str) -> io::Result<()> {
        let mut wire = Vec::with_capacity(text.len() + 16);
        for line in text.lines() {
            let frame = Frame::message(line.as_bytes().to_vec(), OpCode::Data(Data::Text), true);
            self.format(frame, &mut wire);
        }
        self.write_frames(&wire)
    }

    /// Clients mask what they send (RFC 6455, section 5.3). The masks only have to vary;
    /// nothing here is secret.
    fn format(&self, mut frame: Frame, wire: &mut Vec<u8>) {
        let mask = self.masks.fetch_add(0x6D2B_79F5, Ordering::Relaxed);
        frame.header_mut().mask = Some(mask.to_be_bytes());
        // Writing to a Vec cannot fail.
        let _ = frame.format(wire);
    }

    fn write_frames(&self, wire: &[u8]) -> io::Result<()> {
        let _whole = self.writing.lock();
        (&self.stream).write_all(wire)
    }

    /// The lines the server sends, pings answered on the way.
    pub(super) fn lines(self: &Arc<Self>) -> WebLines {
        let leftover =
            std::mem::take(&mut *self.leftover.lock().unwrap_or_else(|e| e.into_inner()));
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        WebLines {
            link: self.clone(),
            context: WebSocketContext::from_partially_read(leftover, Role::Client, Some(config)),
            pending: VecDeque::new(),
        }
    }
}

/// An iterator over the lines a [`WebLink`] receives.
pub(super) struct WebLines {
    link: Arc<WebLink>,
    context: WebSocketContext,
    pending: VecDeque<String>,
}

/// The socket as the reader's tungstenite sees it: what it would write by itself (pongs) is
/// dropped, since [`WebLines`] sends its pongs whole through [`WebLink::write_frames`].
struct ReadOnly<'a>(&'a TcpStream);

impl Read for ReadOnly<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for ReadOnly<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Iterator for WebLines {
    type Item = io::Result<String>;

    fn next(&mut self) -> Option<io::Result<String>> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(Ok(line));
            }
            let message = self.context.read(&mut ReadOnly(&self.link.stream));
            match message {
                Ok(Message::Text(text)) => {
                    self.pending
                        .extend(text.as_str().split('\n').map(str::to_string));
                }
                Ok(Message::Ping(payload)) => {
                    let mut wire = Vec::new();
                    self.link.format(Frame::pong(payload), &mut wire);
                    if let Err(err) = self.link.write_frames(&wire) {
                        return Some(Err(err));
                    }
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(tungstenite::Error::Io(err)) => return Some(Err(err)),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return None
                }
                Err(err) => return Some(Err(io::Error::other(err))),
            }
        }
    }
}
