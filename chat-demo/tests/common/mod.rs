//! A chat client for the tests, and a server on 127.0.0.1:0 for each test to talk to.

#![allow(dead_code)] // each test binary uses its own subset

use chat_demo::server::{serve, Config};
use greenhub::net::{TcpListener, TcpStream};
use greenhub::sync::Event;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One connected client that has read its welcome.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects and reads the welcome line.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut client = Client { stream, reader };
        let welcome = client.line()?;
        assert!(welcome.starts_with("*** welcome"), "{welcome}");
        Ok(client)
    }

    /// Connects and takes the nick `nick`.
    pub fn named(addr: SocketAddr, nick: &str) -> io::Result<Client> {
        let mut client = Client::connect(addr)?;
        client.send(&format!("/nick {nick}"))?;
        let reply = client.reply()?;
        assert_eq!(reply, format!("*** you are now {nick}"));
        Ok(client)
    }

    /// Sends `text` and a `\n`.
    pub fn send(&mut self, text: &str) -> io::Result<()> {
        self.stream.write_all(format!("{text}\n").as_bytes())
    }

    /// The next line, without its `\n`.
    pub fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches('\n').to_string())
    }

    /// Reads lines until one satisfies `want`, skipping others (joins of later clients).
    pub fn expect(&mut self, want: impl Fn(&str) -> bool) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if want(&line) {
                return Ok(line);
            }
        }
    }

    /// The next reply to this client's own command: a `!!!` line or one that says `*** you`
    /// (others' arrivals and departures are skipped).
    pub fn reply(&mut self) -> io::Result<String> {
        self.expect(|l| l.starts_with("*** you") || l.starts_with("!!!"))
    }

    /// The next chat line relayed from someone else (`<nick> ...` or `* nick ...`).
    pub fn chat(&mut self) -> io::Result<String> {
        self.expect(|l| l.starts_with('<') || (l.starts_with("* ") && !l.starts_with("***")))
    }
}

/// Runs `serve` on 127.0.0.1:0 with `config`, runs `test` against it, then shuts it down.
pub fn with_server(
    config: Config,
    test: impl FnOnce(SocketAddr) -> io::Result<()> + 'static,
) -> io::Result<()> {
    greenhub::run(move || -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(Event::new());
        let stop = shutdown.clone();
        let server = greenhub::spawn(move || serve(listener, config, stop));
        let result = test(addr);
        shutdown.set();
        server.join().expect("the server did not panic")?;
        result
    })
}
