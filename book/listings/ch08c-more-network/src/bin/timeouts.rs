//! A read timeout bounds each wait for bytes; `greenhub::timeout` bounds a whole operation.
//! A peer that sends one byte every 20 ms never trips the first. Run with
//! `cargo run -p ch08c-more-network --bin timeouts`.

use ch08c_more_network::dribble;
use greenhub::net::{TcpListener, TcpStream};
use std::io::{self, BufRead, BufReader, Read};
use std::time::{Duration, Instant};

const LINE: &[u8] = b"GET /index.html HTTP/1.0\r\n";

/// A connected pair: (the server's end, the client's end).
fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((server, client))
}

fn main() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        silent_peer()?;
        slow_peer_read_timeout()?;
        slow_peer_whole_deadline()
    })
}

// ANCHOR: silent
fn silent_peer() -> io::Result<()> {
    let (server, _silent_client) = pair()?;
    server.set_read_timeout(Some(Duration::from_millis(100)))?;
    let started = Instant::now();
    let err = (&server).read(&mut [0u8; 64]).unwrap_err();
    println!(
        "silent peer, read timeout 100 ms: {:?} after {} ms",
        err.kind(),
        started.elapsed().as_millis()
    );
    Ok(())
}
// ANCHOR_END: silent

// ANCHOR: per_read
fn slow_peer_read_timeout() -> io::Result<()> {
    let (server, client) = pair()?;
    let slow = greenhub::spawn(move || dribble(&client, LINE, Duration::from_millis(20)));
    server.set_read_timeout(Some(Duration::from_millis(100)))?;
    let started = Instant::now();
    let mut line = String::new();
    BufReader::new(&server).read_line(&mut line)?;
    println!(
        "slow peer (a byte every 20 ms), read timeout 100 ms: read_line returned {} bytes \
         after {} ms",
        line.len(),
        started.elapsed().as_millis()
    );
    slow.join().expect("the slow peer panicked")
}
// ANCHOR_END: per_read

// ANCHOR: whole
fn slow_peer_whole_deadline() -> io::Result<()> {
    let (server, client) = pair()?;
    let slow = greenhub::spawn(move || dribble(&client, LINE, Duration::from_millis(20)));
    let started = Instant::now();
    let mut reader = BufReader::new(&server);
    let mut line = String::new();
    let outcome = greenhub::timeout(Duration::from_millis(200), || reader.read_line(&mut line));
    match outcome {
        Ok(read) => println!("whole line in time: {read:?}"),
        Err(elapsed) => println!(
            "slow peer, timeout(200 ms) around read_line: {elapsed} after {} ms",
            started.elapsed().as_millis()
        ),
    }
    drop(reader);
    drop(server); // mid-line: the only safe thing left to do with this connection
    let _ = slow.join(); // the peer's next write fails: we hung up on it
    Ok(())
}
// ANCHOR_END: whole
