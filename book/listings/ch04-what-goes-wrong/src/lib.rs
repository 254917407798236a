//! Chapter 4: what goes wrong with the one-way chat, and the fix for each: a client started
//! before its server, a server that goes away, a reader that spins at end of file, a port
//! still in TIME_WAIT, serving the next client after one leaves (and the one stuck in the
//! backlog meanwhile), and the states of a connection as the kernel lists them.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

// ANCHOR: retry
/// Connects, and while nobody listens yet says so and tries again.
pub fn connect_patiently(
    addr: SocketAddr,
    attempts: usize,
    log: &mut impl Write,
) -> io::Result<TcpStream> {
    let mut last = None;
    for _ in 0..attempts {
        match TcpStream::connect(addr) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                writeln!(log, "waiting for server... ({e})")?;
                std::thread::sleep(Duration::from_millis(100));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::TimedOut.into()))
}
// ANCHOR_END: retry

// ANCHOR: server_gone
/// Keeps writing to a server that has closed: the kernel reports it on a later write.
pub fn write_until_the_server_is_gone(
    mut stream: TcpStream,
    log: &mut impl Write,
) -> io::Result<()> {
    for attempt in 1.. {
        match stream.write_all(b"are you there?\n") {
            Ok(()) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let gone = matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                );
                writeln!(log, "write {attempt} failed; the server is gone: {gone}")?;
                return Ok(());
            }
        }
    }
    Ok(())
}
// ANCHOR_END: server_gone

// ANCHOR: spin
/// The classic bug: ignoring a read of 0 bytes. At end of file `read` returns 0 at once, every
/// time, so this loop burns a whole core doing nothing. Counted for 100 ms here.
pub fn spin_at_eof(mut stream: TcpStream, log: &mut impl Write) -> io::Result<()> {
    let (mut buf, mut empty_reads) = ([0u8; 512], 0u64);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(100) {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            empty_reads += 1; // the bug: should have been `break`
        }
    }
    writeln!(
        log,
        "read returned 0 more than 1,000 times in 100 ms: {}",
        empty_reads > 1000
    )
}
// ANCHOR_END: spin

// ANCHOR: reuse
/// Closes a server that had a client, then binds its port again, without and with
/// SO_REUSEADDR. The closed connection lingers in TIME_WAIT and holds the port.
pub fn rebind_after_close(log: &mut impl Write) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr)?;
    let (served, _) = listener.accept()?;
    drop(served); // the server side closes first, so it is the one left in TIME_WAIT
    drop(listener);
    std::thread::sleep(Duration::from_millis(50));
    drop(client);
    for reuse in [false, true] {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.set_reuse_address(reuse)?;
        let result = socket.bind(&addr.into()).and_then(|()| socket.listen(16));
        match result {
            Ok(()) => writeln!(log, "SO_REUSEADDR {reuse}: bound the port again")?,
            Err(e) => writeln!(log, "SO_REUSEADDR {reuse}: {e}")?,
        }
    }
    Ok(())
}
// ANCHOR_END: reuse

// ANCHOR: next_client
/// Serves clients one after another: echoes each line of a client back until it leaves, then
/// accepts the next.
pub fn serve_in_turn(
    listener: &TcpListener,
    clients: usize,
    log: &mut impl Write,
) -> io::Result<()> {
    for _ in 0..clients {
        let (stream, _) = listener.accept()?;
        // A client's error (a reset, a line that is not UTF-8) ends its turn, not the server.
        if let Err(e) = echo_lines(stream, log) {
            writeln!(log, "that client's connection failed: {e}")?;
        }
    }
    Ok(())
}

/// Echoes each line of one client back until it leaves.
fn echo_lines(stream: TcpStream, log: &mut impl Write) -> io::Result<()> {
    let mut replies = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        writeln!(log, "served: {line}")?;
        replies.write_all(format!("echo: {line}\n").as_bytes())?;
    }
    Ok(())
}
// ANCHOR_END: next_client

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
pub fn unused_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

// ANCHOR: states
/// The kernel's table of TCP sockets, as `ss -tan` shows it: each socket on `port` (either
/// end), its role and state, and for a listener how many connections wait in its backlog.
/// Linux only: it reads `/proc/net/tcp`, which is where `ss` and `netstat` look too.
pub fn tcp_states(port: u16) -> io::Result<Vec<String>> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let mut found = Vec::new();
    for row in table.lines().skip(1) {
        // sl local_address rem_address st tx_queue:rx_queue ...
        let fields: Vec<&str> = row.split_whitespace().collect();
        let port_of = |field: &str| {
            let hex = field.rsplit(':').next().unwrap_or("");
            u16::from_str_radix(hex, 16).unwrap_or(0)
        };
        let (local, remote) = (port_of(fields[1]), port_of(fields[2]));
        let state = match fields[3] {
            "01" => "ESTABLISHED",
            "02" => "SYN_SENT",
            "03" => "SYN_RECV",
            "04" => "FIN_WAIT1",
            "05" => "FIN_WAIT2",
            "06" => "TIME_WAIT",
            "08" => "CLOSE_WAIT",
            "09" => "LAST_ACK",
            "0A" => "LISTEN",
            "0B" => "CLOSING",
            _ => "CLOSE",
        };
        let queued = fields[4].split(':').nth(1).unwrap_or("0");
        let queued = usize::from_str_radix(queued, 16).unwrap_or(0);
        if state == "LISTEN" && local == port {
            found.push(format!(
                "listener  LISTEN       backlog: {queued} waiting for accept"
            ));
        } else if local == port {
            found.push(format!("server    {state}"));
        } else if remote == port {
            found.push(format!("client    {state}"));
        }
    }
    found.sort();
    Ok(found)
}
// ANCHOR_END: states

/// The range the kernel picks ephemeral (client) ports from, `net.ipv4.ip_local_port_range`.
pub fn ephemeral_range() -> io::Result<std::ops::RangeInclusive<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")?;
    let mut ends = text.split_whitespace().map(str::parse::<u16>);
    match (ends.next(), ends.next()) {
        (Some(Ok(low)), Some(Ok(high))) => Ok(low..=high),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, text)),
    }
}
