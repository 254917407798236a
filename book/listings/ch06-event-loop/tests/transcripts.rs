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

fn connect(addr: std::net::SocketAddr) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let reader = BufReader::new(stream.try_clone()?);
    Ok((stream, reader))
}

fn hear(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

#[test]
fn one_client_reset_leaves_the_server_serving_the_others() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || ch06_event_loop::serve(listener, 3));
    let (mut ann, _) = connect(addr)?;
    let (ben, mut ben_hears) = connect(addr)?;
    let (dan, mut dan_hears) = connect(addr)?;
    std::thread::sleep(Duration::from_millis(50)); // all three accepted before ann speaks
    ann.write_all(b"hello all\n")?;
    let mut log = String::new();
    log += &format!("ben hears: {}", hear(&mut ben_hears)?);
    // Dan's copy of the line sits unread in his socket; closing it now makes his kernel
    // answer with a reset (RST) instead of a polite FIN.
    let _ = hear(&mut dan_hears)?;
    ann.write_all(b"dan, are you there?\n")?;
    log += &format!("ben hears: {}", hear(&mut ben_hears)?);
    std::thread::sleep(Duration::from_millis(50));
    drop((dan, dan_hears));
    std::thread::sleep(Duration::from_millis(50));
    ann.write_all(b"he is gone\n")?;
    log += &format!("ben hears: {}", hear(&mut ben_hears)?);
    drop(ann);
    drop((ben, ben_hears));
    let result = server.join().unwrap();
    log += &format!("the server ended with {result:?} once all three had gone\n");
    check(env!("CARGO_MANIFEST_DIR"), "output/reset.txt", &log);
    Ok(())
}

#[test]
fn a_handler_that_blocks_freezes_every_client() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || {
        // ANCHOR: blocking_handler
        ch06_event_loop::serve_with(listener, 3, |line| {
            if line.starts_with(b"/lookup") {
                // A blocking call in a handler: a DNS lookup, a database query, a file read.
                std::thread::sleep(Duration::from_secs(2));
            }
        })
        // ANCHOR_END: blocking_handler
    });
    let (mut ann, _) = connect(addr)?;
    let (mut ben, _) = connect(addr)?;
    let (carl, mut carl_hears) = connect(addr)?;
    std::thread::sleep(Duration::from_millis(50));
    ann.write_all(b"/lookup example.org\n")?;
    std::thread::sleep(Duration::from_millis(100));
    let sent = std::time::Instant::now();
    ben.write_all(b"is anyone there?\n")?;
    let mut log = String::new();
    for _ in 0..2 {
        log += &format!("carl hears: {}", hear(&mut carl_hears)?);
    }
    let waited = sent.elapsed();
    log += &format!(
        "ben's line took over a second to reach carl: {}\n",
        waited >= Duration::from_secs(1)
    );
    drop((ann, ben, carl, carl_hears));
    server.join().unwrap()?;
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/blocking_handler.txt",
        &log,
    );
    Ok(())
}
