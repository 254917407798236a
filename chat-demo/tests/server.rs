//! The chat server driven by real TCP clients on 127.0.0.1:0.

use chat_demo::server::{serve, Config};
use greenhub::net::{TcpListener, TcpStream};
use greenhub::sync::Event;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: std::net::SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut client = Client { stream, reader };
        let welcome = client.line()?;
        assert!(welcome.starts_with("*** welcome"), "{welcome}");
        Ok(client)
    }

    fn nick(&self, welcome_nick: &str) -> String {
        welcome_nick.to_string()
    }

    fn send(&mut self, text: &str) -> io::Result<()> {
        self.stream.write_all(format!("{text}\n").as_bytes())
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches('\n').to_string())
    }

    /// Reads lines until one satisfies `want`, skipping others (joins of later clients).
    fn expect(&mut self, want: impl Fn(&str) -> bool) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if want(&line) {
                return Ok(line);
            }
        }
    }

    fn quiet_for(&mut self, time: Duration) -> io::Result<Option<String>> {
        self.stream.set_read_timeout(Some(time))?;
        let got = match self.line() {
            Ok(line) => Some(line),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => None,
            Err(e) => return Err(e),
        };
        self.stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(got)
    }
}

fn with_server(
    config: Config,
    test: impl FnOnce(std::net::SocketAddr, Arc<Event>) -> io::Result<()> + 'static,
) {
    greenhub::run(move || -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(Event::new());
        let stop = shutdown.clone();
        // These tests are about the protocol; address limits have tests of their own.
        let config = config.without_address_limits();
        let server = greenhub::spawn(move || serve(listener, config, stop));
        let result = test(addr, shutdown.clone());
        shutdown.set();
        server.join().unwrap()?;
        result
    })
    .unwrap();
}

#[test]
fn lines_are_relayed_to_the_others_in_the_room_not_echoed() {
    with_server(Config::default(), |addr, _| {
        let mut alice = Client::connect(addr)?;
        alice.send("/nick alice")?;
        alice.expect(|l| l == "*** you are now alice")?;
        let mut bob = Client::connect(addr)?;
        bob.send("/nick bob")?;
        bob.expect(|l| l == "*** you are now bob")?;
        let mut carol = Client::connect(addr)?;
        alice.send("hello everyone\r")?; // a trailing \r is dropped
        assert_eq!(
            bob.expect(|l| l.starts_with('<'))?,
            "<alice> hello everyone"
        );
        assert_eq!(
            carol.expect(|l| l.starts_with('<'))?,
            "<alice> hello everyone"
        );
        alice.send("/me waves")?;
        assert_eq!(
            bob.expect(|l| l.starts_with('*') && !l.starts_with("***"))?,
            "* alice waves"
        );
        assert_eq!(
            alice
                .quiet_for(Duration::from_millis(100))?
                .filter(|l| l.contains("hello")),
            None,
            "no echo"
        );
        Ok(())
    });
}

#[test]
fn nick_rules_uniqueness_ignores_case_and_look_alikes_are_refused() {
    with_server(Config::default(), |addr, _| {
        let mut a = Client::connect(addr)?;
        let mut b = Client::connect(addr)?;
        a.send("/nick Alice")?;
        a.expect(|l| l == "*** you are now Alice")?;
        for (attempt, error) in [
            ("/nick alice", "!!! alice is taken"),
            ("/nick ALICE", "!!! ALICE is taken"),
            ("/nick AIice", "!!! AIice is taken"), // a capital i for the l
            ("/nick AL1CE", "!!! AL1CE is taken"),
            (
                "/nick al ice",
                "!!! a nick may use only letters, digits, - and _",
            ),
            (
                "/nick аlice",
                "!!! a nick may use only letters, digits, - and _",
            ),
            ("/nick server", "!!! that nick is reserved"),
            (
                "/nick abcdefghijklmnopq",
                "!!! a nick has 1 to 16 characters",
            ),
        ] {
            b.send(attempt)?;
            assert_eq!(b.expect(|l| l.starts_with("!!!"))?, error);
        }
        Ok(())
    });
}

#[test]
fn rooms_who_and_private_messages() {
    with_server(Config::default(), |addr, _| {
        let mut a = Client::connect(addr)?;
        a.send("/nick ann")?;
        a.expect(|l| l.ends_with("now ann"))?;
        let mut b = Client::connect(addr)?;
        b.send("/nick ben")?;
        b.expect(|l| l.ends_with("now ben"))?;
        b.send("/join rust")?;
        b.expect(|l| l == "*** you are now in rust")?;
        a.expect(|l| l == "*** ben left lobby")?;
        a.send("in the lobby")?;
        assert_eq!(
            b.quiet_for(Duration::from_millis(100))?,
            None,
            "other rooms do not hear it"
        );
        a.send("/rooms")?;
        assert_eq!(
            a.expect(|l| l.starts_with("*** rooms"))?,
            "*** rooms: lobby (1), rust (1)"
        );
        b.send("/who")?;
        assert_eq!(b.expect(|l| l.starts_with("*** in"))?, "*** in rust: ben");
        a.send("/msg BEN psst /quit is just text")?;
        assert_eq!(
            b.expect(|l| l.starts_with("[pm"))?,
            "[pm from ann] psst /quit is just text"
        );
        a.send("/msg nobody hi")?;
        assert_eq!(
            a.expect(|l| l.starts_with("!!!"))?,
            "!!! no one is called nobody"
        );
        a.send("/frobnicate")?;
        assert_eq!(
            a.expect(|l| l.starts_with("!!!"))?,
            "!!! unknown command /frobnicate; try /help"
        );
        Ok(())
    });
}

#[test]
fn rooms_over_the_announce_limit_stay_quiet_about_joins_but_not_about_chat() {
    let config = Config {
        announce_limit: 2,
        ..Config::default()
    };
    with_server(config, |addr, _| {
        let mut a = Client::connect(addr)?;
        let mut b = Client::connect(addr)?;
        assert!(a
            .expect(|l| l.starts_with("***"))?
            .ends_with("joined lobby"));
        let _c = Client::connect(addr)?; // the third member: the lobby is now over the limit
        b.send("/nick bea")?;
        b.expect(|l| l == "*** you are now bea")?;
        b.send("still heard")?;
        assert_eq!(
            a.expect(|l| !l.contains("welcome"))?,
            "<bea> still heard",
            "neither the third join nor the nick change was announced"
        );
        b.send("/join small")?;
        b.expect(|l| l == "*** you are now in small")?;
        b.send("/who")?;
        assert!(b.expect(|l| l.starts_with("*** in"))?.ends_with("bea"));
        Ok(())
    });
}

#[test]
fn hostile_input_long_lines_invalid_utf8_and_escape_injection() {
    let config = Config {
        max_line: 64,
        ..Config::default()
    };
    with_server(config, |addr, _| {
        let mut victim = Client::connect(addr)?;
        let mut attacker = Client::connect(addr)?;
        attacker.stream.write_all(&[b'x'; 100_000])?;
        attacker.stream.write_all(b"\n")?;
        assert_eq!(
            attacker.expect(|l| l.starts_with("!!!"))?,
            "!!! line too long (max 64 bytes); discarded"
        );
        attacker.stream.write_all(b"bad \xff\xfe bytes\n")?;
        assert_eq!(
            attacker.expect(|l| l.starts_with("!!!"))?,
            "!!! that line is not valid UTF-8; discarded"
        );
        attacker.send("\u{1b}[2J\u{1b}]0;owned\u{7}clear\u{0}screen\u{1b}[31m!")?;
        let relayed = victim.expect(|l| l.starts_with('<'))?;
        assert!(relayed.ends_with("> clearscreen!"), "{relayed:?}");
        assert!(
            !relayed.chars().any(|c| c.is_control()),
            "control characters reached a client: {relayed:?}"
        );
        attacker.send("still connected")?;
        assert!(victim
            .expect(|l| l.starts_with('<'))?
            .ends_with("still connected"));
        Ok(())
    });
}

#[test]
fn a_client_that_never_reads_is_dropped_and_the_others_keep_receiving() {
    // Loopback socket buffers hold megabytes, so push enough (about 20 MB) to fill the
    // sleeper's buffers and then its queue.
    let config = Config {
        queue: 8,
        max_rate: 0,
        max_line: 20_000,
        ..Config::default()
    };
    with_server(config, |addr, _| {
        let mut talker = Client::connect(addr)?;
        let mut listener_client = Client::connect(addr)?;
        let sleeper = TcpStream::connect(addr)?; // never reads a byte
        greenhub::sleep(Duration::from_millis(20));
        let filler = "x".repeat(10_000);
        let start = Instant::now();
        let mut worst = Duration::ZERO;
        for i in 0..2000 {
            let sent = Instant::now();
            talker.send(&format!("{i} {filler}"))?;
            let got = listener_client.expect(|l| l.starts_with('<'))?;
            assert!(got.contains(&format!("> {i} ")), "out of order: {got}");
            worst = worst.max(sent.elapsed());
        }
        assert!(
            worst < Duration::from_secs(1),
            "a reader waited {worst:?} behind the sleeper"
        );
        assert!(start.elapsed() < Duration::from_secs(30));
        talker.expect(|l| l.contains("left lobby (too slow)"))?;
        drop(sleeper);
        Ok(())
    });
}

#[test]
fn a_client_reset_mid_line_leaves_the_others_unharmed() {
    with_server(Config::default(), |addr, _| {
        let mut steady = Client::connect(addr)?;
        for _ in 0..20 {
            let rude = TcpStream::connect(addr)?;
            (&rude).write_all(b"half a li")?;
            socket2::SockRef::from(&rude).set_linger(Some(Duration::ZERO))?;
            drop(rude);
        }
        let mut other = Client::connect(addr)?;
        other.send("after the resets")?;
        assert!(steady
            .expect(|l| l.starts_with('<'))?
            .ends_with("after the resets"));
        Ok(())
    });
}

#[test]
fn idle_clients_are_disconnected() {
    let config = Config {
        idle_timeout: Duration::from_millis(100),
        ..Config::default()
    };
    with_server(config, |addr, _| {
        let mut idle = Client::connect(addr)?;
        assert_eq!(
            idle.expect(|l| l.starts_with("!!!"))?,
            "!!! idle for too long; disconnecting"
        );
        assert_eq!(
            idle.line().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        Ok(())
    });
}

#[test]
fn a_client_trickling_one_byte_at_a_time_is_dropped_at_the_line_timeout() {
    let config = Config {
        idle_timeout: Duration::from_millis(400),
        line_timeout: Duration::from_millis(600),
        ..Config::default()
    };
    with_server(config, |addr, _| {
        let mut slow = Client::connect(addr)?;
        let started = Instant::now();
        // Every byte comes well within the idle timeout, but the line never ends.
        let dropped = loop {
            if slow.stream.write_all(b"x").is_err() {
                break true;
            }
            greenhub::sleep(Duration::from_millis(100));
            if started.elapsed() > Duration::from_secs(5) {
                break false;
            }
            if let Ok(Some(line)) = slow.quiet_for(Duration::from_millis(1)) {
                assert_eq!(line, "!!! a line took too long to arrive; disconnecting");
                break true;
            }
        };
        assert!(dropped, "a trickling client was still connected after 5 s");
        assert!(started.elapsed() >= Duration::from_millis(500));
        // It holds nothing past the timeout: the server has closed its end.
        slow.stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut rest = Vec::new();
        let end = slow.reader.read_to_end(&mut rest);
        assert!(end.is_ok() || end.unwrap_err().kind() == io::ErrorKind::ConnectionReset);
        Ok(())
    });
}

#[test]
fn a_half_closed_client_is_heard_then_let_go() {
    with_server(Config::default(), |addr, _| {
        let mut listener = Client::connect(addr)?;
        let mut half = Client::connect(addr)?;
        half.send("last words")?;
        half.stream.shutdown(std::net::Shutdown::Write)?; // no more from it, still reading
        assert!(listener
            .expect(|l| l.starts_with('<'))?
            .ends_with("> last words"));
        // The server ends the session on the end of input and closes its side too.
        half.stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut rest = Vec::new();
        half.reader.read_to_end(&mut rest)?;
        let mut other = Client::connect(addr)?;
        listener.send("still here")?;
        assert!(other
            .expect(|l| l.starts_with('<'))?
            .ends_with("> still here"));
        Ok(())
    });
}

#[test]
fn one_client_over_the_maximum_is_told_the_server_is_full() {
    let config = Config {
        max_clients: 2,
        ..Config::default()
    };
    with_server(config, |addr, _| {
        let _a = Client::connect(addr)?;
        let _b = Client::connect(addr)?;
        let mut third = TcpStream::connect(addr)?;
        third.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut text = String::new();
        third.read_to_string(&mut text)?;
        assert_eq!(text, "!!! server full, try again later; closing\n");
        Ok(())
    });
}

#[test]
fn shutdown_sends_every_client_a_notice() {
    with_server(Config::default(), |addr, shutdown| {
        let mut clients: Vec<Client> = (0..5)
            .map(|_| Client::connect(addr))
            .collect::<io::Result<_>>()?;
        shutdown.set();
        for client in &mut clients {
            client.expect(|l| l == "*** server shutting down; goodbye")?;
            // Others' departures may follow; then the server closes the connection.
            let end = loop {
                match client.line() {
                    Ok(line) => assert!(line.starts_with("***"), "{line}"),
                    Err(e) => break e,
                }
            };
            assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
        }
        Ok(())
    });
}

#[test]
fn help_and_quit() {
    with_server(Config::default(), |addr, _| {
        let mut c = Client::connect(addr)?;
        c.send("/help")?;
        assert!(c
            .expect(|l| l.starts_with("***"))?
            .contains("/msg NICK text"));
        c.send("/quit")?;
        assert_eq!(c.line().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let _ = c.nick("");
        Ok(())
    });
}

#[test]
fn the_binary_starts_serves_and_exits_0_on_sigterm() -> io::Result<()> {
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--listen", "127.0.0.1:0", "--hubs", "1", "--web", "off"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first)?;
    let addr: std::net::SocketAddr = first
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .map_err(io::Error::other)?;
    let mut client = std::net::TcpStream::connect(addr)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut welcome = String::new();
    reader.read_line(&mut welcome)?;
    assert!(welcome.starts_with("*** welcome"), "{welcome}");
    // Signal the child as an operator would.
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()?;
    let mut notice = String::new();
    reader.read_line(&mut notice)?;
    assert_eq!(notice, "*** server shutting down; goodbye\n");
    let status = server.wait()?;
    assert!(status.success(), "exit status {status}");
    client.write_all(b"").ok();
    drop(out);
    Ok(())
}
