//! Chapter 4: what goes wrong with the one-way chat, and the fix for each: a client started
//! before its server, a server that goes away, a reader that spins at end of file, a port
//! still in TIME_WAIT, and serving the next client after one leaves.

use std::io::{self, Read, Write};
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
/// Serves clients one after another: when one leaves, accept the next.
pub fn serve_in_turn(
    listener: &TcpListener,
    clients: usize,
    log: &mut impl Write,
) -> io::Result<()> {
    for _ in 0..clients {
        let (mut stream, _) = listener.accept()?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        write!(log, "served: {text}")?;
    }
    Ok(())
}
// ANCHOR_END: next_client

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
pub fn unused_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}
