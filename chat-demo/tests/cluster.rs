//! Issue 19: chat servers that share rooms through Redis. Each test starts a real
//! `redis-server` on a free loopback port and two or three `chat-server` processes pointed at
//! it, and talks to them as clients do. Where `redis-server` is not installed the tests say so
//! and pass without running (`.ci/run` installs it).

use chat_demo::child::{RedisProcess, ServerProcess};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const LINK_LOST: &str = "!!! lost the link to the other chat servers";
const LINK_DOWN: &str = "!!! the other chat servers are out of reach";
const LINK_BACK: &str = "*** the link to the other chat servers is back";

/// Redis, or `None` (with a message) where it is not installed.
fn redis() -> io::Result<Option<RedisProcess>> {
    match RedisProcess::start() {
        Ok(redis) => Ok(Some(redis)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            eprintln!("skipped: redis-server is not installed ({err}); .ci/run installs it");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// A chat-server in the cluster at `redis`, named `id`, with nick claims that expire after
/// `ttl_ms`, no flood control, and two hubs (so lines also cross hubs inside a server).
fn server(redis: &RedisProcess, id: &str, ttl_ms: u64) -> io::Result<ServerProcess> {
    let ttl = ttl_ms.to_string();
    let url = redis.url();
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_chat-server")),
        &[
            "--hubs",
            "2",
            "--max-rate",
            "0",
            "--max-per-ip",
            "0",
            "--connects-per-minute",
            "0",
            "--cluster",
            &url,
            "--server-id",
            id,
            "--cluster-ttl-ms",
            &ttl,
        ],
    )
}

/// A client that keeps every line it read.
struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    seen: Vec<String>,
    nick: String,
}

impl Client {
    fn connect(server: &ServerProcess) -> io::Result<Client> {
        let stream = TcpStream::connect(server.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut client = Client {
            stream,
            reader,
            seen: Vec::new(),
            nick: String::new(),
        };
        let welcome = client.line()?;
        let nick = welcome
            .strip_prefix("*** welcome! you are ")
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("not a welcome: {welcome}"));
        client.nick = nick.to_string();
        Ok(client)
    }

    fn named(server: &ServerProcess, nick: &str) -> io::Result<Client> {
        let mut client = Client::connect(server)?;
        client.send(&format!("/nick {nick}"))?;
        assert_eq!(client.reply()?, format!("*** you are now {nick}"));
        client.nick = nick.to_string();
        Ok(client)
    }

    fn send(&mut self, text: &str) -> io::Result<()> {
        self.stream.write_all(format!("{text}\n").as_bytes())
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches('\n').to_string();
        self.seen.push(line.clone());
        Ok(line)
    }

    fn expect(&mut self, want: impl Fn(&str) -> bool) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if want(&line) {
                return Ok(line);
            }
        }
    }

    fn reply(&mut self) -> io::Result<String> {
        // Not what the server says of the link to the other servers.
        self.expect(|l| {
            l.starts_with("*** you")
                || l.starts_with("!!! ") && !l.starts_with(LINK_LOST) && !l.starts_with(LINK_DOWN)
        })
    }

    /// Joins `room`.
    fn join(&mut self, room: &str) -> io::Result<()> {
        self.send(&format!("/join {room}"))?;
        assert_eq!(self.reply()?, format!("*** you are now in {room}"));
        Ok(())
    }

    /// The nicks `/who` lists in this client's room.
    fn who(&mut self) -> io::Result<Vec<String>> {
        self.send("/who")?;
        let listed = self.expect(|l| l.starts_with("*** in "))?;
        let (_, nicks) = listed.split_once(": ").unwrap_or_default();
        Ok(nicks.split(", ").map(str::to_string).collect())
    }

    /// Asks `/who` until it lists every one of `nicks` (the other servers' rooms arrive
    /// through Redis a little after their clients do).
    fn wait_for(&mut self, nicks: &[&str]) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let listed = self.who()?;
            if nicks.iter().all(|n| listed.iter().any(|l| l == n)) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "{} never saw {nicks:?}, only {listed:?}",
                self.nick
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reads until nothing came for `quiet`; returns what came.
    fn drain(&mut self, quiet: Duration) -> io::Result<Vec<String>> {
        self.stream.set_read_timeout(Some(quiet))?;
        let mut got = Vec::new();
        loop {
            match self.line() {
                Ok(line) => got.push(line),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(15)))?;
        Ok(got)
    }

    fn count(&self, prefix: &str) -> usize {
        self.seen.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

/// Reads `client`'s chat lines until each of `senders` said `END`; checks that each sender's
/// numbered lines came once each and in order, and returns how many came from each.
fn hear_all(
    client: &mut Client,
    senders: &[&str],
    lines: usize,
) -> io::Result<HashMap<String, usize>> {
    let mut next: HashMap<String, usize> = senders.iter().map(|s| (s.to_string(), 0)).collect();
    let mut ended = 0;
    while ended < senders.len() {
        let line = client.line()?;
        let Some((from, said)) = line.strip_prefix('<').and_then(|l| l.split_once("> ")) else {
            continue;
        };
        let expected = next
            .get_mut(from)
            .unwrap_or_else(|| panic!("{} heard an unexpected sender: {line}", client.nick));
        if !said.starts_with("line ") && said != "END" {
            continue; // a line from before the numbered ones (see the frozen-Redis test)
        }
        if said == "END" {
            assert_eq!(
                *expected, lines,
                "{} heard END from {from} after {expected} lines",
                client.nick
            );
            ended += 1;
            continue;
        }
        let n: usize = said
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .expect("numbered");
        assert_eq!(
            n, *expected,
            "{} heard {from}'s line {n} when {expected} was due",
            client.nick
        );
        *expected += 1;
    }
    // Nothing more: a line heard twice would come after its END.
    let late = client.drain(Duration::from_millis(300))?;
    assert!(
        !late.iter().any(|l| l.starts_with('<')),
        "{} heard more after END: {late:?}",
        client.nick
    );
    Ok(next)
}

fn say_numbered(client: &mut Client, lines: usize) -> io::Result<()> {
    let mut burst = String::new();
    for n in 0..lines {
        burst.push_str(&format!("line {n}\n"));
    }
    burst.push_str("END\n");
    client.stream.write_all(burst.as_bytes())
}

#[test]
fn a_room_line_reaches_its_members_on_every_server_once_and_in_order() -> io::Result<()> {
    let Some(redis) = redis()? else { return Ok(()) };
    let servers = [
        server(&redis, "a", 5000)?,
        server(&redis, "b", 5000)?,
        server(&redis, "c", 5000)?,
    ];
    let mut alice = Client::named(&servers[0], "alice")?;
    let mut dave = Client::named(&servers[0], "dave")?;
    let mut bob = Client::named(&servers[1], "bob")?;
    let mut carol = Client::named(&servers[2], "carol")?;
    for client in [&mut alice, &mut dave, &mut bob, &mut carol] {
        client.join("x")?;
    }
    // Every server has written its room and so is subscribed.
    alice.wait_for(&["bob", "carol"])?;
    bob.wait_for(&["alice", "carol"])?;
    carol.wait_for(&["alice", "bob"])?;

    const LINES: usize = 300;
    say_numbered(&mut alice, LINES)?;
    say_numbered(&mut bob, LINES)?;
    std::thread::scope(|scope| -> io::Result<()> {
        let heard = [
            scope.spawn(|| hear_all(&mut alice, &["bob"], LINES)),
            scope.spawn(|| hear_all(&mut dave, &["alice", "bob"], LINES)),
            scope.spawn(|| hear_all(&mut bob, &["alice"], LINES)),
            scope.spawn(|| hear_all(&mut carol, &["alice", "bob"], LINES)),
        ];
        for heard in heard {
            heard.join().expect("a reader panicked")?;
        }
        Ok(())
    })
}

#[test]
fn nicks_are_unique_across_servers_and_who_rooms_and_msg_cross_them() -> io::Result<()> {
    let Some(redis) = redis()? else { return Ok(()) };
    let (a, b) = (server(&redis, "a", 5000)?, server(&redis, "b", 5000)?);
    // Guests get nicks that no other server gives out.
    let (guest_a, guest_b) = (Client::connect(&a)?, Client::connect(&b)?);
    assert_ne!(guest_a.nick, guest_b.nick);

    let mut alice = Client::named(&a, "alice")?;
    let mut other = Client::connect(&b)?;
    for taken in ["alice", "ALICE", "a1ice"] {
        other.send(&format!("/nick {taken}"))?;
        assert_eq!(other.reply()?, format!("!!! {taken} is taken"), "{taken}");
    }
    other.send("/nick bob")?;
    assert_eq!(other.reply()?, "*** you are now bob");
    let mut bob = other;
    bob.nick = "bob".into();

    bob.wait_for(&["alice", "bob"])?;
    alice.wait_for(&["alice", "bob"])?;

    bob.send("/msg alice hi from b")?;
    assert_eq!(
        alice.expect(|l| l.starts_with("[pm"))?,
        "[pm from bob] hi from b"
    );
    alice.send("/msg BOB hi from a")?;
    assert_eq!(
        bob.expect(|l| l.starts_with("[pm"))?,
        "[pm from alice] hi from a"
    );
    bob.send("/msg nobody hello?")?;
    assert_eq!(bob.reply()?, "!!! no one is called nobody");

    alice.join("garden")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        bob.send("/rooms")?;
        let rooms = bob.expect(|l| l.starts_with("*** rooms"))?;
        if rooms.contains("garden (1)") {
            assert!(rooms.contains(&format!("lobby ({})", 3)), "{rooms}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob never saw alice's room: {rooms}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A nick given up on one server is free on the others at once.
    alice.send("/nick alice2")?;
    assert_eq!(alice.reply()?, "*** you are now alice2");
    bob.send("/nick alice")?;
    assert_eq!(bob.reply()?, "*** you are now alice");
    drop((guest_a, guest_b));
    Ok(())
}

#[test]
fn a_killed_server_leaves_no_ghost_nicks_after_the_expiry() -> io::Result<()> {
    let Some(redis) = redis()? else { return Ok(()) };
    const TTL: Duration = Duration::from_millis(1500);
    let a = server(&redis, "a", TTL.as_millis() as u64)?;
    let b = server(&redis, "b", TTL.as_millis() as u64)?;
    let zed = Client::named(&a, "zed")?;
    let mut bob = Client::named(&b, "bob")?;
    bob.wait_for(&["zed"])?;
    // Renewed every third of the expiry: still claimed well past one expiry.
    std::thread::sleep(TTL * 2);
    bob.send("/nick zed")?;
    assert_eq!(bob.reply()?, "!!! zed is taken");

    drop(a); // SIGKILL: no goodbye, no release
    let killed = Instant::now();
    drop(zed);
    let deadline = killed + Duration::from_secs(15);
    loop {
        bob.send("/nick zed")?;
        if bob.reply()? == "*** you are now zed" {
            break;
        }
        assert!(Instant::now() < deadline, "zed was never freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let freed = killed.elapsed();
    assert!(
        freed <= TTL + Duration::from_secs(5),
        "freed only after {freed:?}"
    );
    // The dead server's rooms leave the listings too: only bob (now zed) is left.
    bob.nick = "zed".into();
    let deadline = Instant::now() + Duration::from_secs(15);
    while bob.who()? != ["zed"] {
        assert!(
            Instant::now() < deadline,
            "the dead server's clients stayed listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn redis_restarted_mid_run_clients_are_told_once_and_delivery_resumes() -> io::Result<()> {
    let Some(mut redis) = redis()? else {
        return Ok(());
    };
    let (a, b) = (server(&redis, "a", 3000)?, server(&redis, "b", 3000)?);
    let mut alice = Client::named(&a, "alice")?;
    let mut carol = Client::named(&a, "carol")?;
    let mut bob = Client::named(&b, "bob")?;
    bob.wait_for(&["alice", "carol"])?;
    alice.wait_for(&["bob"])?;
    alice.send("before")?;
    assert_eq!(bob.expect(|l| l.starts_with('<'))?, "<alice> before");
    assert_eq!(carol.expect(|l| l.starts_with('<'))?, "<alice> before");

    redis.kill();
    for client in [&mut alice, &mut carol, &mut bob] {
        client.expect(|l| l.starts_with(LINK_LOST))?;
    }
    // This server's own rooms keep working meanwhile.
    alice.send("during")?;
    assert_eq!(carol.expect(|l| l.starts_with('<'))?, "<alice> during");
    // Long enough for several reconnect attempts, none of which may tell the clients again.
    std::thread::sleep(Duration::from_millis(2500));
    redis.restart()?;
    for client in [&mut alice, &mut carol, &mut bob] {
        client.expect(|l| l.starts_with(LINK_BACK))?;
    }
    // Redis came back empty: each server claims its nicks and writes its rooms again.
    bob.wait_for(&["alice", "carol"])?;
    alice.wait_for(&["bob"])?;
    let mut stranger = Client::connect(&b)?;
    stranger.send("/nick alice")?;
    assert_eq!(stranger.reply()?, "!!! alice is taken");

    say_numbered(&mut alice, 50)?;
    // Bob hears "after" lines only, in order: "during" was lost to the other servers, and
    // nothing said before the outage comes again.
    hear_all(&mut bob, &["alice"], 50)?;
    hear_all(&mut carol, &["alice"], 50)?;
    for client in [&alice, &carol, &bob] {
        assert_eq!(
            client.count(LINK_LOST),
            1,
            "{}: {:#?}",
            client.nick,
            client.seen
        );
        assert_eq!(
            client.count(LINK_BACK),
            1,
            "{}: {:#?}",
            client.nick,
            client.seen
        );
    }
    assert!(!bob.seen.iter().any(|l| l == "<alice> during"));
    Ok(())
}

#[test]
fn a_frozen_redis_is_noticed_by_its_silence_and_local_rooms_never_wait_for_it() -> io::Result<()> {
    let Some(redis) = redis()? else { return Ok(()) };
    let (a, b) = (server(&redis, "a", 3000)?, server(&redis, "b", 3000)?);
    let mut alice = Client::named(&a, "alice")?;
    let mut carol = Client::named(&a, "carol")?;
    let mut bob = Client::named(&b, "bob")?;
    bob.wait_for(&["alice", "carol"])?;
    alice.wait_for(&["bob"])?;
    let pid = redis.pid().expect("running") as libc::pid_t;
    // SIGSTOP: Redis keeps its connections open and answers nothing; only silence tells.
    // SAFETY: kill(2) with a pid this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let said = Instant::now();
    alice.send("while redis is frozen")?;
    assert_eq!(
        carol.expect(|l| l.starts_with('<'))?,
        "<alice> while redis is frozen"
    );
    let local = said.elapsed();
    for client in [&mut alice, &mut carol, &mut bob] {
        client.expect(|l| l.starts_with(LINK_LOST))?;
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    for client in [&mut alice, &mut carol, &mut bob] {
        client.expect(|l| l.starts_with(LINK_BACK))?;
    }
    bob.wait_for(&["alice", "carol"])?;
    say_numbered(&mut alice, 50)?;
    hear_all(&mut bob, &["alice"], 50)?;
    // A local line that waited for Redis would have waited 2 s (the reply timeout) or more.
    assert!(
        local < Duration::from_millis(1500),
        "a local line took {local:?}"
    );
    for client in [&alice, &carol, &bob] {
        assert_eq!(
            client.count(LINK_LOST),
            1,
            "{}: {:#?}",
            client.nick,
            client.seen
        );
    }
    Ok(())
}

#[test]
fn chat_load_spreads_its_clients_over_the_servers_and_every_delivery_checks_out() -> io::Result<()>
{
    let Some(redis) = redis()? else { return Ok(()) };
    let (a, b) = (server(&redis, "a", 5000)?, server(&redis, "b", 5000)?);
    let config = chat_demo::load::LoadConfig {
        server: format!("{},{}", a.addr(), b.addr()),
        // One room: with clients alternating between the servers, it spans both.
        clients: 30,
        rooms: 1,
        messages: 20,
        burst: true,
        timeout: Duration::from_secs(30),
        ..chat_demo::load::LoadConfig::default()
    };
    let report = greenhub::run(move || chat_demo::load::run(&config, |_| {}))?;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.delivered, 30 * 29 * 20);
    Ok(())
}

#[test]
fn a_server_stopped_cleanly_frees_its_nicks_and_rooms_at_once() -> io::Result<()> {
    let Some(redis) = redis()? else { return Ok(()) };
    // A long expiry: only the server's own goodbye can free the nick within the test.
    let (a, b) = (server(&redis, "a", 60_000)?, server(&redis, "b", 60_000)?);
    let mut zed = Client::named(&a, "zed")?;
    let mut bob = Client::named(&b, "bob")?;
    bob.wait_for(&["zed"])?;
    // SAFETY: kill(2) with a pid this test started.
    assert_eq!(
        unsafe { libc::kill(a.pid() as libc::pid_t, libc::SIGTERM) },
        0
    );
    zed.expect(|l| l.starts_with("*** server shutting down"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        bob.send("/nick zed")?;
        if bob.reply()? == "*** you are now zed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "zed stayed claimed after its server said goodbye"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    bob.nick = "zed".into();
    // Its rooms go as soon as it has said goodbye, not at the expiry.
    while bob.who()? != ["zed"] {
        assert!(
            Instant::now() < deadline,
            "the stopped server's clients stayed listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
