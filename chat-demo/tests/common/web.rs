//! A chat server with its web port on 127.0.0.1:0, and a WebSocket client for the tests.

#![allow(dead_code)] // each test binary uses its own subset

use chat_demo::server::{ChatServer, Config, Options};
use greenhub::net::{TcpListener, TcpStream};
use greenhub::sync::Event;
use greenhub::tls::TlsAcceptor;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tungstenite::{Message, WebSocket};

/// Where the test's server listens.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub line: SocketAddr,
    pub web: SocketAddr,
}

/// Runs a chat server with a web port (and TLS on both when `tls` is given) on 127.0.0.1:0,
/// runs `test` against it, then shuts it down.
pub fn with_web_server(
    config: Config,
    tls: Option<TlsAcceptor>,
    test: impl FnOnce(Ports, &Event) -> io::Result<()> + 'static,
) -> io::Result<()> {
    greenhub::run(move || -> io::Result<()> {
        let line = TcpListener::bind("127.0.0.1:0")?;
        let web = TcpListener::bind("127.0.0.1:0")?;
        let options = Options {
            tls,
            web: Some(web),
        };
        let server = ChatServer::from_listener_with(line, config, options)?;
        let ports = Ports {
            line: server.local_addr(),
            web: server.web_addr().expect("a web port"),
        };
        let shutdown = Arc::new(Event::new());
        let stop = shutdown.clone();
        let running = greenhub::spawn(move || server.run_until(&stop));
        let result = test(ports, &shutdown);
        shutdown.set();
        running.join().expect("the server did not panic");
        result
    })
}

/// One browser-like WebSocket client that has read its welcome.
pub struct WebClient<S: Read + Write> {
    pub socket: WebSocket<S>,
    lines: VecDeque<String>,
}

impl WebClient<TcpStream> {
    /// Connects to `ws://addr/ws` and reads the welcome line.
    pub fn connect(addr: SocketAddr) -> io::Result<WebClient<TcpStream>> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        WebClient::handshake(&format!("ws://{addr}/ws"), stream)
    }
}

impl<S: Read + Write> WebClient<S> {
    /// The WebSocket handshake for `url` over `stream`, then the welcome line.
    pub fn handshake(url: &str, stream: S) -> io::Result<WebClient<S>> {
        let (socket, _response) = tungstenite::client(url, stream)
            .map_err(|e| io::Error::other(format!("handshake: {e}")))?;
        let mut client = WebClient {
            socket,
            lines: VecDeque::new(),
        };
        let welcome = client.line()?;
        assert!(welcome.starts_with("*** welcome"), "{welcome}");
        Ok(client)
    }

    /// Connects and takes the nick `nick`.
    pub fn named_with(mut self, nick: &str) -> io::Result<WebClient<S>> {
        self.send(&format!("/nick {nick}"))?;
        let reply = self.reply()?;
        assert_eq!(reply, format!("*** you are now {nick}"));
        Ok(self)
    }

    /// Sends `text` as one text message.
    pub fn send(&mut self, text: &str) -> io::Result<()> {
        self.socket
            .send(Message::text(text))
            .map_err(|e| io::Error::other(format!("send: {e}")))
    }

    /// The next message, whatever it is (pings are answered by tungstenite on the next read
    /// or send).
    pub fn message(&mut self) -> io::Result<Message> {
        self.socket.read().map_err(|e| match e {
            tungstenite::Error::Io(e) => e,
            tungstenite::Error::ConnectionClosed => io::ErrorKind::UnexpectedEof.into(),
            other => io::Error::other(format!("read: {other}")),
        })
    }

    /// The next line of text (a message may carry several).
    pub fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Ok(line);
            }
            match self.message()? {
                Message::Text(text) => self
                    .lines
                    .extend(text.as_str().split('\n').map(str::to_string)),
                Message::Close(frame) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("closed: {frame:?}"),
                    ))
                }
                _ => {}
            }
        }
    }

    /// Reads lines until one satisfies `want`.
    pub fn expect(&mut self, want: impl Fn(&str) -> bool) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if want(&line) {
                return Ok(line);
            }
        }
    }

    /// The next reply to this client's own command.
    pub fn reply(&mut self) -> io::Result<String> {
        self.expect(|l| l.starts_with("*** you") || l.starts_with("!!!"))
    }

    /// The next chat line relayed from someone else.
    pub fn chat(&mut self) -> io::Result<String> {
        self.expect(|l| l.starts_with('<') || (l.starts_with("* ") && !l.starts_with("***")))
    }
}
