//! Two clients on the chapter's event-loop server, on 127.0.0.1:0.

use book_transcript::check;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[test]
fn lines_are_relayed_even_when_they_arrive_in_pieces() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || ch06_event_loop::serve(listener, 2));
    let mut ann = TcpStream::connect(addr)?;
    let ben = TcpStream::connect(addr)?;
    ben.set_read_timeout(Some(Duration::from_secs(5)))?;
    std::thread::sleep(Duration::from_millis(50)); // both accepted before ann speaks
    for piece in ["hel", "lo ben\nhow ", "are you?\n"] {
        ann.write_all(piece.as_bytes())?;
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(ann);
    let mut heard = String::new();
    let mut reader = BufReader::new(&ben);
    for _ in 0..2 {
        reader.read_line(&mut heard)?;
    }
    drop(reader);
    drop(ben);
    server.join().unwrap()?;
    check(env!("CARGO_MANIFEST_DIR"), "output/relay.txt", &heard);
    Ok(())
}
