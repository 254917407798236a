//! Issue 15, finding 6: a line's clock starts at its first byte. It used to start when the read
//! began, so after a silence longer than the line timeout (but shorter than the idle timeout)
//! any line that needed two reads was cut off as "took too long to arrive". The timeouts are
//! set short here (they are `Config` fields), so nothing waits 30 s.

mod common;

use chat_demo::deadline::Deadlines;
use chat_demo::framing::{Incoming, LineReader};
use chat_demo::server::Config;
use common::{with_server, Client};
use greenhub::net::{TcpListener, TcpStream};
use std::io::{self, Write};
use std::time::Duration;

const LINE: Duration = Duration::from_millis(800);
/// Longer than `LINE`, shorter than the idle timeout.
const SILENCE: Duration = Duration::from_millis(1200);

fn config() -> Config {
    Config {
        idle_timeout: Duration::from_secs(20),
        line_timeout: LINE,
        ..Config::default()
    }
}

#[test]
fn a_line_typed_a_character_at_a_time_after_a_silence_is_heard() -> io::Result<()> {
    with_server(config(), |addr| {
        let mut typist = Client::named(addr, "typist")?;
        let mut reader = Client::connect(addr)?;
        greenhub::sleep(SILENCE);
        for c in "hello".chars() {
            write!(typist.stream, "{c}")?;
            greenhub::sleep(Duration::from_millis(40));
        }
        typist.send("")?;
        assert_eq!(reader.chat()?, "<typist> hello");
        typist.send("still here")?;
        assert_eq!(reader.chat()?, "<typist> still here");
        Ok(())
    })
}

#[test]
fn a_line_longer_than_one_read_after_a_silence_is_heard() -> io::Result<()> {
    with_server(config(), |addr| {
        let mut sender = Client::named(addr, "sender")?;
        let mut reader = Client::connect(addr)?;
        greenhub::sleep(SILENCE);
        let long = "x".repeat(3000); // three reads of the server's 1 kB chunks
        sender.send(&long)?;
        assert_eq!(reader.chat()?, format!("<sender> {long}"));
        Ok(())
    })
}

#[test]
fn the_line_clock_of_deadlines_starts_at_the_first_byte() -> io::Result<()> {
    greenhub::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        let reads = Deadlines::new(&server, Duration::from_secs(20), LINE);
        let mut lines = LineReader::new(reads, 4096);
        let typist = greenhub::spawn(move || -> io::Result<()> {
            greenhub::sleep(SILENCE);
            client.write_all(b"ab")?;
            greenhub::sleep(Duration::from_millis(100));
            client.write_all(b"cd\n")?;
            Ok(())
        });
        assert_eq!(lines.next_line()?, Some(Incoming::Line("abcd".into())));
        typist.join().expect("the typist did not panic")
    })
}
