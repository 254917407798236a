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

/// A client that never reads and keeps its receive window small (4 KiB), so that a few tens
/// of KB sent to it fill every buffer on the way and its writer on the server blocks. Its
/// socket is non-blocking: writing to it never waits.
pub fn stalled(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect(&addr.into())?; // on loopback, done within the call
    let stream: std::net::TcpStream = socket.into();
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Descriptors this process has open.
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// This process's resident memory in KiB (VmRSS), or 0 where /proc has no such line.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Raises this process's soft descriptor limit to its hard limit (tests that open thousands
/// of loopback connections hold both ends).
pub fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit get a valid pointer to an rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Reads from a non-blocking socket until `want` is among the lines it got or `within`
/// passes; returns everything read.
pub fn read_until(
    stream: &std::net::TcpStream,
    want: &str,
    within: Duration,
) -> io::Result<String> {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while started.elapsed() < within && !String::from_utf8_lossy(&got).contains(want) {
        match (&*stream).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                greenhub::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}
