//! Chapter 8: the chat-demo server seen from its clients: a tour of the protocol with some
//! hostile input, and a client that stops reading while the others chat on, first against the
//! green-thread chat of chapter 7, which it freezes, then against chat-demo, which drops it.

use greenhub::net::TcpStream;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A chat client that logs what it sees.
pub struct Person {
    name: &'static str,
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Person {
    /// Connects and waits for the welcome line.
    pub fn join(name: &'static str, addr: SocketAddr, log: &mut impl Write) -> io::Result<Person> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let lines = BufReader::new(stream.try_clone()?);
        let mut person = Person {
            name,
            stream,
            lines,
        };
        person.wait_for("*** welcome", log)?;
        Ok(person)
    }

    /// Sends one line, as typed.
    pub fn say(&mut self, text: &str, log: &mut impl Write) -> io::Result<()> {
        // Control characters are shown escaped, as `\u{1b}`, so the log itself stays harmless.
        writeln!(log, "{:>4} types: {}", self.name, text.escape_debug())?;
        self.stream.write_all(format!("{text}\n").as_bytes())
    }

    /// Reads until a line starting with `prefix` arrives, logs it and returns it.
    pub fn wait_for(&mut self, prefix: &str, log: &mut impl Write) -> io::Result<String> {
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line.starts_with(prefix) {
                let line = line.trim_end().to_string();
                let shown: String = line.chars().take(90).collect();
                writeln!(log, "{:>4} sees:  {shown}", self.name)?;
                return Ok(line);
            }
        }
    }
}

// ANCHOR: tour
/// Two people try the protocol, and one of them tries to break things.
pub fn tour(addr: SocketAddr, log: &mut impl Write) -> io::Result<()> {
    let mut ann = Person::join("ann", addr, log)?;
    let mut ben = Person::join("ben", addr, log)?;
    ann.say("/nick ann", log)?;
    ann.wait_for("*** you are now", log)?;
    ben.say("/nick Ann", log)?; // taken, ignoring case
    ben.wait_for("!!!", log)?;
    ben.say("/nick ben", log)?;
    ben.wait_for("*** you are now", log)?;
    ann.say("hello ben", log)?;
    ben.wait_for("<ann>", log)?;
    ben.say("/me waves", log)?;
    ann.wait_for("* ben", log)?;
    ben.say("\u{1b}[2J\u{1b}]0;pwned\u{7}clear your screen!", log)?; // terminal escapes
    ann.wait_for("<ben>", log)?;
    ben.say(&"x".repeat(100), log)?; // over this server's 64-byte limit
    ben.wait_for("!!!", log)?;
    ann.say("/msg ben /quit is only text here", log)?;
    ben.wait_for("[pm", log)?;
    ben.say("/join rust", log)?;
    ben.wait_for("*** you are now in", log)?;
    ann.wait_for("*** ben left", log)?;
    ann.say("/quit", log)?;
    Ok(())
}
// ANCHOR_END: tour

// ANCHOR: slow_reader
/// One client stops reading while another sends 2,000 lines of 10 KB: the listener gets every
/// line in order and on time, and the sleeper alone is dropped.
pub fn slow_reader(addr: SocketAddr, log: &mut impl Write) -> io::Result<()> {
    let mut quiet = io::sink();
    let mut talker = Person::join("tom", addr, &mut quiet)?;
    let mut listener = Person::join("lea", addr, &mut quiet)?;
    let sleeper = TcpStream::connect(addr)?; // never reads a byte
    greenhub::sleep(Duration::from_millis(20));
    let filler = "x".repeat(10_000);
    let (mut worst, mut in_order) = (Duration::ZERO, true);
    for i in 0..2000 {
        let sent = Instant::now();
        talker
            .stream
            .write_all(format!("{i} {filler}\n").as_bytes())?; // one write a line
        let got = listener.wait_for("<", &mut quiet)?;
        in_order &= got.contains(&format!("> {i} "));
        worst = worst.max(sent.elapsed());
    }
    writeln!(log, "lea got all 2,000 lines in order: {in_order}")?;
    writeln!(
        log,
        "none took a second or more: {}",
        worst < Duration::from_secs(1)
    )?;
    talker.wait_for("*** guest-3 left", log)?; // the sleeper was the third to connect
    drop(sleeper);
    Ok(())
}
// ANCHOR_END: slow_reader

// ANCHOR: freeze
/// The chapter 7 server with three clients: tom talks, lea listens, sam never reads. Tom
/// sends lines of 10 KB; returns how many of them lea heard, and whether she then waited a
/// whole second for the next one.
pub fn freeze_the_green_chat(lines: usize) -> io::Result<(usize, bool)> {
    greenhub::run(move || {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = greenhub::spawn(move || ch07_green_chat::serve(listener, 3));
        let tom = TcpStream::connect(addr)?;
        let lea = TcpStream::connect(addr)?;
        let sam = TcpStream::connect(addr)?; // never reads a byte
        greenhub::sleep(Duration::from_millis(50)); // all three in the list
        let talker = {
            let tom = tom.try_clone()?;
            greenhub::spawn(move || {
                let filler = "x".repeat(10_000);
                for i in 0..lines {
                    if (&tom)
                        .write_all(format!("{i} {filler}\n").as_bytes())
                        .is_err()
                    {
                        return;
                    }
                }
            })
        };
        lea.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut heard = 0;
        let mut reader = BufReader::new(&lea);
        let mut line = String::new();
        let stalled = loop {
            match reader.read_line(&mut line) {
                Ok(0) => break false,
                Ok(_) => heard += 1,
                Err(e) => {
                    break matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    )
                }
            }
            line.clear();
        };
        // Unfreeze to clean up: closing sam with unread bytes resets his connection, and
        // lea's close makes writes to her fail too, so tom's session runs to the end.
        drop(sam);
        drop(reader);
        lea.shutdown(std::net::Shutdown::Both)?;
        talker.join().expect("the talker panicked");
        tom.shutdown(std::net::Shutdown::Both)?;
        let _ = server.join(); // sam's session ends with his reset: an error, as it should
        Ok((heard, stalled))
    })
}
// ANCHOR_END: freeze
