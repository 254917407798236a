//! Issue 15, finding 1: a session whose writer is stuck on a client that stopped reading must
//! count against `max_clients` until its socket is closed, and must close it promptly when it
//! quits or idles out. Repeated, such sessions must give back their descriptors, green threads
//! and memory, and newcomers must still get in.

mod common;

use chat_demo::server::Config;
use common::{open_descriptors, read_until, rss_kib, stalled, with_server, Client};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Makes the server's writer for a new client block: the client stops reading, asks for
/// about 160 KB of private messages to itself (more than every buffer on the way holds, less
/// than its queue), then quits (or, when `quit` is false, falls silent until it idles out).
fn stall_then_leave(addr: SocketAddr, nick: &str, quit: bool) -> io::Result<std::net::TcpStream> {
    let client = stalled(addr)?;
    let mut asks = format!("/nick {nick}\n");
    let filler = "x".repeat(4000);
    for _ in 0..40 {
        asks.push_str(&format!("/msg {nick} {filler}\n"));
    }
    if quit {
        asks.push_str("/quit\n");
    }
    client.set_nonblocking(false)?;
    (&client).write_all(asks.as_bytes())?;
    client.set_nonblocking(true)?;
    Ok(client)
}

#[test]
fn a_session_counts_against_max_clients_until_its_socket_is_closed() -> io::Result<()> {
    let config = Config {
        max_clients: 1,
        max_rate: 0,
        slow_grace: Duration::from_secs(3),
        send_buffer: Some(4096),
        ..Config::default()
    };
    with_server(config, |addr| {
        let leaver = stall_then_leave(addr, "leaver", true)?;
        greenhub::sleep(Duration::from_millis(500)); // it has quit; its writer is stuck
        let early = stalled(addr)?;
        let told = read_until(&early, "\n", Duration::from_secs(2))?;
        assert!(
            told.starts_with("!!! server full"),
            "a newcomer got in while a session that quit still held its socket: {told:?}"
        );
        // Within the grace (plus the writer's wake-up period) the stuck socket is closed, and
        // then the newcomer's turn comes.
        let started = Instant::now();
        loop {
            let newcomer = stalled(addr)?;
            let said = read_until(&newcomer, "\n", Duration::from_secs(2))?;
            if said.starts_with("*** welcome") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still refused 10 s after the session quit: {said:?}"
            );
            greenhub::sleep(Duration::from_millis(200));
        }
        drop(leaver);
        Ok(())
    })
}

#[test]
fn sessions_stuck_on_their_writer_give_back_descriptors_and_memory() -> io::Result<()> {
    let config = Config {
        max_clients: 8,
        max_rate: 0,
        slow_grace: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(300),
        send_buffer: Some(4096),
        ..Config::default().without_address_limits()
    };
    with_server(config, |addr| {
        let leak = |rounds: std::ops::Range<usize>| -> io::Result<()> {
            for round in rounds {
                let leavers: Vec<_> = (0..8)
                    .map(|i| stall_then_leave(addr, &format!("l{round}x{i}"), i % 2 == 0))
                    .collect::<io::Result<_>>()?;
                greenhub::sleep(Duration::from_millis(100));
                drop(leavers); // the client side goes; the server must notice on its own
            }
            greenhub::sleep(Duration::from_secs(1));
            Ok(())
        };
        // Warm up the stack pool and the allocator with a first batch, then take the
        // baseline: what a leak would show is growth with every further batch.
        leak(0..8)?;
        let green_threads = || greenhub::threads().len();
        let (fds, rss, greens) = (open_descriptors(), rss_kib(), green_threads());
        leak(8..32)?;
        // Every leaked session's socket closes within its grace and idle timeout, and its
        // green threads (session, writer) end.
        let started = Instant::now();
        while (open_descriptors() > fds || green_threads() > greens)
            && started.elapsed() < Duration::from_secs(10)
        {
            greenhub::sleep(Duration::from_millis(100));
        }
        assert!(
            green_threads() <= greens,
            "{} green threads alive, {greens} at the start",
            green_threads()
        );
        assert!(
            open_descriptors() <= fds,
            "{} descriptors open, {fds} at the start",
            open_descriptors()
        );
        let grown = rss_kib().saturating_sub(rss);
        eprintln!(
            "after 24 more rounds: RSS +{grown} KiB, {} descriptors ({fds} before), {} green \
             threads ({greens} before)",
            open_descriptors(),
            green_threads()
        );
        assert!(
            grown < 8 * 1024,
            "RSS grew by {grown} KiB over 24 more rounds"
        );
        // And the server still admits a full house.
        let house: Vec<Client> = (0..8)
            .map(|_| Client::connect(addr))
            .collect::<io::Result<_>>()?;
        drop(house);
        Ok(())
    })
}
