//! Issue 15: a spawn that cannot get a stack never takes down an accept loop. `StreamServer`
//! treats it as it treats EMFILE: the connection is closed, the failure is logged once, the
//! acceptor backs off, and handlers start again once stacks can be had.
//!
//! Each scenario runs in a child process whose address space is capped (`RLIMIT_AS`, its own
//! soft limit, so nothing machine-wide changes) just above what it already maps: no new stack
//! fits, small allocations still do. Handlers that stay connected use up the stacks the hub
//! pooled; the connections after that cannot start. Then the clients leave and the cap is
//! lifted, as when an attacker goes away, and a newcomer must be served again.

mod common;

use common::run_child;
use greenhub::net::{TcpListener, TcpStream};
use greenhub::StreamServer;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Prints every record as one `LOG level: message` line on stderr, for the parent to count.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("greenhub") {
            eprintln!("LOG {}: {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

fn rlimit_as() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit gets a valid pointer to an rlimit struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) }, 0);
    limit
}

fn set_rlimit_as(limit: libc::rlimit) {
    // SAFETY: setrlimit gets a valid pointer to an rlimit struct.
    let done = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(done, 0, "setrlimit: {}", io::Error::last_os_error());
}

/// This process's mapped address space, in bytes.
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .expect("a VmSize line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmSize in kB");
    kib * 1024
}

/// Bigger than the headroom left under the cap, so that no stack can be mapped.
const STACK: usize = 8 * 1024 * 1024;
/// Room under the cap for the small allocations of sockets, timers and logging.
const HEADROOM: u64 = 4 * 1024 * 1024;

/// Says hello, then holds the connection (and its stack) until the client leaves.
fn hold(mut stream: TcpStream, _: SocketAddr) {
    if stream.write_all(b"+").is_ok() {
        let _ = stream.read(&mut [0u8; 1]);
    }
}

/// One connection: `Some(client)` if a handler greeted it, `None` if it was closed unserved.
fn visit(addr: SocketAddr) -> io::Result<Option<TcpStream>> {
    let mut client = TcpStream::connect(addr)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut hello = [0u8; 1];
    match client.read(&mut hello) {
        Ok(1) => Ok(Some(client)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(None),
        Err(e) => Err(e),
    }
}

/// The child: starts `server`, runs out of stacks, then recovers.
fn starve_then_recover(hubs: usize, server: impl FnOnce() -> io::Result<StreamServer> + 'static) {
    log::set_logger(&LOGGER).expect("no logger yet");
    log::set_max_level(log::LevelFilter::Info);
    let rt = greenhub::Runtime::builder()
        .hubs(hubs)
        .stack_size(STACK)
        .build()
        .expect("a runtime");
    rt.run(move || -> io::Result<()> {
        let server = server()?.start()?;
        let addr = server.local_addr();
        // Every hub maps its first batch of stacks before the cap.
        let mut held: Vec<TcpStream> = Vec::new();
        for _ in 0..2 * hubs {
            held.push(visit(addr)?.expect("served before the cap"));
        }
        let uncapped = rlimit_as();
        set_rlimit_as(libc::rlimit {
            rlim_cur: address_space() + HEADROOM,
            rlim_max: uncapped.rlim_max,
        });
        let mut refused = 0;
        for _ in 0..400 {
            match visit(addr)? {
                Some(client) => held.push(client),
                None => refused += 1,
            }
            if refused == 5 {
                break;
            }
        }
        assert_eq!(
            refused, 5,
            "every connection was served: the cap did not bite"
        );
        eprintln!("CHILD refused 5 after holding {}", held.len());
        // The attacker leaves and memory is to be had again.
        drop(held);
        set_rlimit_as(uncapped);
        let mut served = None;
        for _ in 0..20 {
            served = visit(addr)?;
            if served.is_some() {
                break;
            }
        }
        assert!(
            served.is_some(),
            "no handler started after stacks came back"
        );
        drop(served);
        server.stop(Duration::from_secs(1));
        Ok(())
    })
    .expect("the child's scenario");
    println!("child finished");
}

/// What the parent checks in the child's stderr.
fn check(test: &str, hubs: usize) {
    let outcome = run_child(test, Duration::from_secs(60), |_| ());
    let report = format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        outcome.status, outcome.stdout, outcome.stderr
    );
    assert!(
        outcome.status.is_some_and(|s| s.success()) && outcome.stdout.contains("child finished"),
        "{report}"
    );
    let failures = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("LOG WARN") && l.contains("cannot start a handler"))
        .count();
    assert!(
        (1..=hubs).contains(&failures),
        "a streak of failures is logged once per hub, not {failures} times\n{report}"
    );
    assert!(
        outcome
            .stderr
            .lines()
            .any(|l| l.starts_with("LOG INFO") && l.contains("handlers start again")),
        "the recovery is logged\n{report}"
    );
    assert!(
        !outcome.stderr.contains("nobody joined"),
        "a handler that never started was reported as a panic\n{report}"
    );
}

#[test]
fn an_acceptor_out_of_stacks_drops_the_connection_logs_once_and_recovers() {
    const TEST: &str = "an_acceptor_out_of_stacks_drops_the_connection_logs_once_and_recovers";
    if common::is_child(TEST) {
        return starve_then_recover(1, || {
            Ok(StreamServer::from_listener(
                TcpListener::bind("127.0.0.1:0")?,
                hold,
            ))
        });
    }
    check(TEST, 1);
}

#[test]
fn connections_handed_to_other_hubs_out_of_stacks_are_dropped_logged_once_and_recover() {
    const TEST: &str =
        "connections_handed_to_other_hubs_out_of_stacks_are_dropped_logged_once_and_recover";
    if common::is_child(TEST) {
        // From a listener: one acceptor hands connections to both hubs in turn.
        return starve_then_recover(2, || {
            Ok(StreamServer::from_listener(TcpListener::bind("127.0.0.1:0")?, hold).on_all_hubs())
        });
    }
    check(TEST, 2);
}
