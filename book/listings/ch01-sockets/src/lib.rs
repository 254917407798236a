//! Chapter 1: a server that greets one client, the client that reads the greeting, and a tour
//! of the addresses a socket can listen on. Plain `std::net`; output goes to `log` so the book's
//! tests can show what really happens.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

// ANCHOR: server
/// Accepts one client and sends it a greeting: text goes over the wire as UTF-8 bytes.
pub fn greet_one(listener: &TcpListener, log: &mut impl Write) -> io::Result<()> {
    let (mut stream, peer) = listener.accept()?; // waits until a client connects
    writeln!(log, "server: a client connected from {}", peer.ip())?;
    let greeting = "héllo, wörld\n";
    stream.write_all(greeting.as_bytes())?;
    writeln!(
        log,
        "server: sent {} characters as {} bytes",
        greeting.chars().count(),
        greeting.len()
    )?;
    Ok(()) // dropping `stream` closes the connection
}
// ANCHOR_END: server

// ANCHOR: client
/// Connects, reads until the server closes, and decodes the bytes as UTF-8.
pub fn fetch(addr: SocketAddr, log: &mut impl Write) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?; // until the server closes its end
    writeln!(log, "client: received {} bytes: {:?}", bytes.len(), bytes)?;
    let text =
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    writeln!(log, "client: decoded as UTF-8: {text:?}")?;
    Ok(text)
}
// ANCHOR_END: client

// ANCHOR: addresses
/// Binds each kind of address with port 0 (the system picks a free port) and shows who can
/// reach it. `[::]` is dual-stack on Linux: IPv4 clients arrive as `::ffff:a.b.c.d`.
pub fn tour_of_addresses(log: &mut impl Write) -> io::Result<()> {
    for (addr, meaning) in [
        ("127.0.0.1:0", "loopback only: this machine"),
        ("0.0.0.0:0", "every IPv4 interface"),
        ("[::1]:0", "IPv6 loopback"),
        ("[::]:0", "every interface, IPv6 and (dual-stack) IPv4"),
    ] {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                let port = listener.local_addr()?.port();
                writeln!(log, "{addr:<12} {meaning}; got a port: {}", port > 0)?;
            }
            Err(err) => writeln!(log, "{addr:<12} cannot bind here: {err}")?,
        }
    }
    if let Ok(dual) = TcpListener::bind("[::]:0") {
        let port = dual.local_addr()?.port();
        let _client = TcpStream::connect(("127.0.0.1", port))?;
        let (_, peer) = dual.accept()?;
        writeln!(log, "an IPv4 client of [::] appears as {}", peer.ip())?;
    }
    Ok(())
}
// ANCHOR_END: addresses

// ANCHOR: resolve
/// Resolves `addrs` (a `"host:port"` string, a `(host, port)` pair or a list of addresses)
/// and tries each address in the order the resolver gave them, until one connects. A name
/// goes through the system's resolver, `getaddrinfo`, which may return several addresses
/// (IPv6 and IPv4, several servers); any of them may be down.
pub fn connect_to_any(addrs: impl ToSocketAddrs, log: &mut impl Write) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => {
                writeln!(log, "{addr}: connected")?;
                return Ok(stream);
            }
            Err(e) => {
                writeln!(log, "{addr}: {e}")?;
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address")
    }))
}
// ANCHOR_END: resolve
