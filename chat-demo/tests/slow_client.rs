//! Issue 14's slow client: one client that never reads sits in a room where 100 others chat and
//! a talker pours 1 KB lines in. It must be dropped once its queue is full and its socket has
//! accepted nothing for `Config::slow_grace` (plus the writer's wake-up period, a quarter of
//! it), not sooner; and the 100 others must hear every line of each other, once and in order.

use chat_demo::load::{run, LoadConfig};
use chat_demo::server::{serve, Config};
use greenhub::net::TcpStream;
use greenhub::sync::Event;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_millis(500);
const ROOM: &str = "room-0"; // where chat-load puts its clients when there is one room

/// A client that joins the room, never reads, and keeps its receive buffer small. Its
/// buffered bytes can still be counted by peeking, which takes nothing.
fn sleeper(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect(&addr.into())?; // on loopback, done within the call
    let sleeper: std::net::TcpStream = socket.into();
    sleeper.set_nonblocking(true)?;
    (&sleeper).write_all(format!("/nick sleeper\n/join {ROOM}\n").as_bytes())?;
    Ok(sleeper)
}

/// A reading client in the room: every line it gets goes to `seen` (when given) as it arrives.
fn reader(addr: SocketAddr, seen: impl Fn(&str) + 'static) -> io::Result<Arc<TcpStream>> {
    let stream = Arc::new(TcpStream::connect(addr)?);
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(&*stream, "/join {ROOM}")?;
    let reading = stream.clone();
    greenhub::spawn(move || {
        for line in BufReader::new(&*reading).lines().map_while(Result::ok) {
            seen(&line);
        }
    });
    Ok(stream)
}

/// How many bytes the sleeper's receive buffer held, each time that changed.
type Fill = Arc<Mutex<Vec<(usize, Instant)>>>;

/// Samples the sleeper's receive buffer every 5 ms until `until` is set.
fn watch_buffer(sleeper: std::net::TcpStream, until: Arc<Event>) -> Fill {
    let fill: Fill = Arc::default();
    let record = fill.clone();
    greenhub::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while !until.wait_timeout(Duration::from_millis(5)) {
            let held = sleeper.peek(&mut buf).unwrap_or(0);
            let mut fill = record.lock().unwrap();
            if fill.last().map(|(last, _)| *last) != Some(held) {
                fill.push((held, Instant::now()));
            }
        }
    });
    fill
}

/// When the buffer first held half the most it ever held. Its socket cannot have stopped
/// taking bytes before then; it stops soon after (the rest of the receive buffer and the
/// server's send buffer fill within milliseconds at the talker's pace). Not "when it last
/// grew": a buffer nobody reads still takes a trickle now and then as the kernel compacts it,
/// without the server's socket becoming writable again.
fn half_full_since(fill: &[(usize, Instant)]) -> Option<(usize, Instant)> {
    let most = fill.iter().map(|(held, _)| *held).max()?;
    let (_, at) = fill.iter().copied().find(|(held, _)| *held * 2 >= most)?;
    Some((most, at))
}

#[test]
fn a_client_that_never_reads_is_dropped_after_the_grace_while_100_others_hear_everything(
) -> io::Result<()> {
    let config = Config {
        max_rate: 0,
        slow_grace: GRACE,
        // A small kernel send buffer, so that the sleeper stalls after a few hundred KB rather
        // than the 4 MiB autotuning would give it.
        send_buffer: Some(64 * 1024),
        // Small enough a room to hear the sleeper leave.
        announce_limit: 1000,
        ..Config::default().without_address_limits()
    };
    greenhub::Runtime::builder().hubs(2).build()?.run(move || {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(Event::new());
        let stop = shutdown.clone();
        let server = greenhub::spawn(move || serve(listener, config, stop));

        let sleeper = sleeper(addr)?;
        let held_back = sleeper.try_clone()?;
        let dropped = Arc::new(Event::new());
        let dropped_at = Arc::new(Mutex::new(None));
        let (heard, when) = (dropped.clone(), dropped_at.clone());
        let _observer = reader(addr, move |line| {
            if line == format!("*** sleeper left {ROOM} (too slow)") {
                *when.lock().unwrap() = Some(Instant::now());
                heard.set();
            }
        })?;
        let talker = reader(addr, |_| {})?;
        greenhub::sleep(Duration::from_millis(100)); // everyone is in the room
        let fill = watch_buffer(sleeper, dropped.clone());
        let (stop_talking, filler) = (dropped.clone(), "x".repeat(1000));
        let talking = greenhub::spawn(move || -> io::Result<u64> {
            let mut lines = 0;
            let started = Instant::now();
            while !stop_talking.is_set() && started.elapsed() < Duration::from_secs(20) {
                writeln!(&*talker, "{lines} {filler}")?;
                lines += 1;
            }
            Ok(lines)
        });

        let report = run(
            &LoadConfig {
                server: addr.to_string(),
                clients: 100,
                messages: 20,
                rate: 10.0,
                timeout: Duration::from_secs(30),
                ..LoadConfig::default()
            },
            |_| {},
        )?;
        let was_dropped = dropped.wait_timeout(Duration::from_secs(20));
        dropped.set(); // stops the talker and the watcher either way
        let lines = talking.join().map_err(io::Error::from)??;
        let full = half_full_since(&fill.lock().unwrap());
        shutdown.set();
        server.join().map_err(io::Error::from)??;

        assert_eq!(
            (
                report.delivered,
                report.duplicates,
                report.out_of_order,
                report.incomplete
            ),
            (report.expected, 0, 0, 0),
            "the 100 others did not all hear everything: {:?}",
            report.failures
        );
        assert!(
            was_dropped,
            "the sleeper was not dropped within 20 s ({lines} lines sent)"
        );
        let dropped_at = dropped_at.lock().unwrap().expect("set with the event");
        let (held, full_at) = full.expect("the sleeper's buffer was sampled");
        let stalled_for = dropped_at.duration_since(full_at);
        // Not dropped before the grace had passed since its socket stopped taking bytes.
        assert!(
            stalled_for >= GRACE,
            "dropped {stalled_for:?} after its buffer filled ({held} bytes)"
        );
        // And not long after: the grace, the writer's wake-up period, and the time for its
        // queue to fill behind the full buffer, with room for a busy machine.
        assert!(
            stalled_for <= GRACE + GRACE / 4 + Duration::from_secs(3),
            "dropped only {stalled_for:?} after its buffer filled ({held} bytes)"
        );
        // It is gone for good: once it reads what was buffered, its connection ends.
        held_back.set_nonblocking(false)?;
        held_back.set_read_timeout(Some(Duration::from_secs(5)))?;
        let end = (&held_back).read_to_end(&mut Vec::new());
        assert!(
            end.is_ok() || end.as_ref().unwrap_err().kind() == io::ErrorKind::ConnectionReset,
            "the sleeper's connection is still open: {end:?}"
        );
        Ok(())
    })
}
