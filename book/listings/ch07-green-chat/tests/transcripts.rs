//! Two green-thread clients on the chapter's server, all on one hub, on 127.0.0.1:0.

use book_transcript::{check, Output};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

#[test]
fn every_client_hears_the_others() -> std::io::Result<()> {
    greenhub::run(|| -> std::io::Result<()> {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = greenhub::spawn(move || ch07_green_chat::serve(listener, 2));
        // The listener: connects first and just prints what it hears.
        let quiet = greenhub::net::TcpStream::connect(addr)?;
        quiet.set_read_timeout(Some(Duration::from_secs(5)))?;
        greenhub::sleep(Duration::from_millis(20));
        let screen = Output::default();
        let keyboard = BufRead::lines(&b"hello from green threads\nbye\n"[..]);
        let talker = {
            let screen = screen.clone();
            greenhub::spawn(move || ch07_green_chat::client(addr, keyboard, screen))
        };
        let mut heard = Vec::new();
        let mut reader = BufReader::new(&quiet);
        for _ in 0..2 {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            heard.push(line);
        }
        quiet.shutdown(std::net::Shutdown::Both)?;
        talker.join().unwrap()?;
        server.join().unwrap()?;
        let mut transcript = Output::default();
        for line in heard {
            write!(transcript, "the quiet client heard: {line}")?;
        }
        write!(transcript, "the talker's screen:\n{}", screen.text())?;
        check(
            env!("CARGO_MANIFEST_DIR"),
            "output/chat.txt",
            &transcript.text(),
        );
        Ok(())
    })
}

#[test]
fn park_waits_for_unpark() {
    let said = ch07_green_chat::park_and_unpark();
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/park.txt",
        &format!("{said}\n"),
    );
}

#[test]
fn a_std_sleep_stops_every_green_thread_of_the_hub() {
    let nap = Duration::from_millis(300);
    let blocked = ch07_green_chat::ticks_while_sleeping(nap, true);
    let parked = ch07_green_chat::ticks_while_sleeping(nap, false);
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/blocking.txt",
        &format!(
            "std::thread::sleep(300 ms): the ticker ran {blocked} times meanwhile\n\
             greenhub::sleep(300 ms): the ticker ran meanwhile, more than 10 times: {}\n",
            parked > 10
        ),
    );
}

#[test]
fn a_session_that_fails_leaves_the_list_and_its_connection_closes() -> std::io::Result<()> {
    greenhub::run(|| -> std::io::Result<()> {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = greenhub::spawn(move || ch07_green_chat::serve(listener, 3));
        // The client that fails connects first: its session is the first `serve` joins.
        let bad = greenhub::net::TcpStream::connect(addr)?;
        greenhub::sleep(Duration::from_millis(20));
        let ann = greenhub::net::TcpStream::connect(addr)?;
        greenhub::sleep(Duration::from_millis(20));
        let ben = greenhub::net::TcpStream::connect(addr)?;
        ben.set_read_timeout(Some(Duration::from_secs(3)))?;
        bad.set_read_timeout(Some(Duration::from_secs(3)))?;
        (&bad).write_all(b"\xff\xfe not UTF-8\n")?; // `line?` fails on this
                                                    // Had the session returned before leaving the list, the list's copy of its stream
                                                    // would keep the connection open, and this read would time out instead of seeing
                                                    // the close.
        let mut rest = Vec::new();
        let closed = std::io::Read::read_to_end(&mut &bad, &mut rest).is_ok();
        // Had `serve` returned at the first session that failed, the server would be over
        // (in a `main`, every other session would be cancelled with it).
        greenhub::sleep(Duration::from_millis(50));
        let serving = !server.is_finished();
        (&ann).write_all(b"still here\n")?;
        let mut heard = String::new();
        BufReader::new(&ben).read_line(&mut heard)?;
        ann.shutdown(std::net::Shutdown::Both)?;
        ben.shutdown(std::net::Shutdown::Both)?;
        let served = server.join().unwrap();
        let invalid = matches!(&served, Err(e) if e.kind() == std::io::ErrorKind::InvalidData);
        check(
            env!("CARGO_MANIFEST_DIR"),
            "output/bad_line.txt",
            &format!(
                "the client that sent invalid UTF-8 was disconnected: {closed}\n\
                 the server was still serving the others: {serving}\n\
                 ben heard ann's next line: {heard}\
                 once all had left, serve reported the failed session's error: {invalid}\n"
            ),
        );
        Ok(())
    })
}
