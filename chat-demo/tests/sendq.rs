//! Issue 15, findings 2 and 4: answers that grow with the server (`/who`, `/rooms`) are paged,
//! each client's outbound queue is bounded in bytes, and expensive commands cost more of the
//! sender's rate. 60 connections asking `/who` of a crowded lobby without reading may not grow
//! the server's memory past 512 KiB each, and a newcomer still gets its welcome promptly.

mod common;

use chat_demo::server::Config;
use common::{raise_descriptor_limit, read_until, rss_kib, stalled, with_server, Client};
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// The stated bound: what one attacker connection may cost in resident memory.
const BOUND_PER_ATTACKER_KIB: u64 = 512;
const ATTACKERS: usize = 60;
const CROWD: usize = 1000;

#[test]
fn sixty_clients_asking_who_without_reading_stay_under_the_memory_bound() -> io::Result<()> {
    raise_descriptor_limit();
    let config = Config {
        max_clients: CROWD + ATTACKERS + 10,
        send_buffer: Some(16 * 1024),
        slow_grace: Duration::from_secs(30), // nobody is dropped: memory must hold anyway
        ..Config::default().without_address_limits()
    };
    with_server(config, |addr| {
        // A crowd of 1,000 in the lobby: a one-line /who would be about 14 KB.
        let crowd: Vec<_> = (0..CROWD)
            .map(|_| stalled(addr))
            .collect::<io::Result<_>>()?;
        greenhub::sleep(Duration::from_millis(500));
        let baseline = rss_kib();
        let attackers: Vec<_> = (0..ATTACKERS)
            .map(|_| stalled(addr))
            .collect::<io::Result<_>>()?;
        let started = Instant::now();
        let mut peak = baseline;
        while started.elapsed() < Duration::from_secs(6) {
            for attacker in &attackers {
                // As fast as the rate limit lets lines through; what it does not take waits.
                let _ = (&*attacker).write(b"/who\n");
            }
            greenhub::sleep(Duration::from_millis(50));
            peak = peak.max(rss_kib());
        }
        let grown = peak.saturating_sub(baseline);
        let bound = BOUND_PER_ATTACKER_KIB * ATTACKERS as u64;
        eprintln!("RSS grew by {grown} KiB under {ATTACKERS} attackers (bound {bound} KiB)");
        assert!(
            grown <= bound,
            "RSS grew by {grown} KiB under {ATTACKERS} attackers; the bound is {bound} KiB"
        );
        // A newcomer is welcomed while they go on.
        let newcomer = stalled(addr)?;
        let welcome = read_until(&newcomer, "\n", Duration::from_secs(2))?;
        assert!(welcome.starts_with("*** welcome"), "{welcome:?}");
        drop((crowd, attackers));
        Ok(())
    })
}

#[test]
fn who_and_rooms_answer_in_lines_of_bounded_length() -> io::Result<()> {
    let config = Config {
        max_rate: 0,
        ..Config::default().without_address_limits()
    };
    with_server(config, |addr| {
        let crowd: Vec<Client> = (0..120)
            .map(|_| Client::connect(addr))
            .collect::<io::Result<_>>()?;
        for (i, member) in crowd.iter().enumerate().take(60) {
            writeln!(&member.stream, "/join room-{i:03}")?;
        }
        let mut asker = Client::connect(addr)?;
        greenhub::sleep(Duration::from_millis(300));
        asker.send("/who")?;
        let mut names = 0;
        loop {
            let line = asker.expect(|l| l.starts_with("*** in lobby"))?;
            assert!(line.len() <= 512, "a /who line of {} bytes", line.len());
            if line.contains("(end)") {
                break;
            }
            names += line.split(": ").nth(1).map_or(0, |l| l.split(", ").count());
        }
        assert_eq!(names, 61, "60 in the lobby and the asker");
        asker.send("/rooms")?;
        let mut listed = 0;
        let more = loop {
            let line = asker.expect(|l| l.starts_with("*** rooms"))?;
            assert!(line.len() <= 512, "a /rooms line of {} bytes", line.len());
            listed += line.matches(" (1)").count();
            if let Some(more) = line.split("/rooms ").nth(1) {
                break Some(more.trim_end_matches(" for more").to_string());
            }
            if line.contains("(end)") {
                break None;
            }
        };
        let page = more.expect("61 rooms take more than one page");
        asker.send(&format!("/rooms {page}"))?;
        loop {
            let line = asker.expect(|l| l.starts_with("*** rooms"))?;
            listed += line.matches(" (1)").count();
            if line.contains("(end)") {
                break;
            }
        }
        assert_eq!(listed, 60, "every one-member room once");
        drop(crowd);
        Ok(())
    })
}
