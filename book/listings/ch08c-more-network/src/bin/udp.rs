//! UDP with greenhub: datagrams keep their boundaries, nothing is retried for you, and an
//! error can come back from a packet sent earlier. Run with
//! `cargo run -p ch08c-more-network --bin udp`.

use greenhub::net::UdpSocket;
use std::io::{self, ErrorKind};
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn main() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        echo()?;
        truncated()?;
        retry()?;
        refused()
    })
}

// ANCHOR: echo
fn echo() -> io::Result<()> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let server_addr = server.local_addr()?;
    let echo = greenhub::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 1500];
        for _ in 0..2 {
            let (n, from) = server.recv_from(&mut buf)?;
            println!("server: {n} bytes from {from}: {:?}", text(&buf[..n]));
            server.send_to(&buf[..n], from)?;
        }
        Ok(())
    });
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.send_to(b"hello", server_addr)?;
    client.send_to(b"world", server_addr)?;
    let mut buf = [0u8; 1500];
    for _ in 0..2 {
        let (n, _) = client.recv_from(&mut buf)?;
        println!("client: one recv, one datagram: {:?}", text(&buf[..n]));
    }
    echo.join().expect("the echo server panicked")
}
// ANCHOR_END: echo

// ANCHOR: truncated
fn truncated() -> io::Result<()> {
    let receiver = UdpSocket::bind("127.0.0.1:0")?;
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    sender.send_to(b"abcdefghij", receiver.local_addr()?)?;
    let mut small = [0u8; 4];
    let (n, _) = receiver.recv_from(&mut small)?;
    println!(
        "a 10-byte datagram into a 4-byte buffer: {n} bytes, {:?}; the rest is gone",
        text(&small[..n])
    );
    Ok(())
}
// ANCHOR_END: truncated

// ANCHOR: retry
fn retry() -> io::Result<()> {
    // A server that loses the first request, as a network may.
    let lossy = UdpSocket::bind("127.0.0.1:0")?;
    let lossy_addr = lossy.local_addr()?;
    let server = greenhub::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 64];
        let _dropped_on_the_floor = lossy.recv_from(&mut buf)?;
        let (n, from) = lossy.recv_from(&mut buf)?;
        lossy.send_to(&buf[..n], from)?;
        Ok(())
    });
    let asker = UdpSocket::bind("127.0.0.1:0")?;
    asker.connect(lossy_addr)?; // send() and recv() now talk to that one peer
    asker.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut buf = [0u8; 64];
    for attempt in 1..=3 {
        asker.send(b"ping")?;
        match asker.recv(&mut buf) {
            Ok(n) => {
                println!("attempt {attempt}: answer {:?}", text(&buf[..n]));
                return server.join().expect("the lossy server panicked");
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                println!("attempt {attempt}: no answer within 100 ms, sending again");
            }
            Err(e) => return Err(e),
        }
    }
    // Out of attempts: say so, rather than carry on as if the peer had answered.
    Err(io::Error::new(
        ErrorKind::TimedOut,
        "no answer after 3 attempts",
    ))
}
// ANCHOR_END: retry

// ANCHOR: refused
fn refused() -> io::Result<()> {
    // Nobody listens on this port any more: the kernel answers with an ICMP "port
    // unreachable", and a connected UDP socket reports it on its next receive.
    let gone = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let asker = UdpSocket::bind("127.0.0.1:0")?;
    asker.connect(gone)?;
    asker.send(b"anyone?")?;
    match asker.recv(&mut [0u8; 64]) {
        Ok(n) => println!("unexpected answer of {n} bytes"),
        Err(e) => println!("to a port nobody listens on: {:?}", e.kind()),
    }
    Ok(())
}
// ANCHOR_END: refused
