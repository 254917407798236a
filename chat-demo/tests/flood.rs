//! Issue 15, findings 5 and 8: flood control throttles the sender and never harms the
//! receivers. A paste is delayed (one notice per throttled burst), not cut short or
//! disconnected; senders flooding a room cannot get an honest reader dropped or held up; a
//! private message to a full queue is refused to its sender with a reason.

mod common;

use chat_demo::server::Config;
use common::{stalled, with_server, Client};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[test]
fn a_pasted_burst_is_delayed_not_dropped_with_one_slow_down_notice() -> io::Result<()> {
    let config = Config {
        max_rate: 50,
        ..Config::default()
    };
    with_server(config, |addr| {
        let mut paster = Client::named(addr, "paster")?;
        let mut listener = Client::connect(addr)?;
        let paste: String = (0..150).map(|i| format!("line {i}\n")).collect();
        paster.stream.write_all(paste.as_bytes())?;
        for i in 0..150 {
            assert_eq!(listener.chat()?, format!("<paster> line {i}"));
        }
        // Still connected, and told once.
        paster.send("/help")?;
        let mut notices = 0;
        loop {
            let line = paster.line()?;
            if line.starts_with("*** commands") {
                break;
            }
            assert!(!line.contains("disconnect"), "{line}");
            notices += line.contains("slow down") as usize;
        }
        assert_eq!(notices, 1, "one notice for one throttled burst");
        Ok(())
    })
}

/// A member that reads `rate` bytes a second until it has seen `marker` or `within` passed;
/// returns what it read.
fn read_at(
    stream: &mut greenhub::net::TcpStream,
    rate: usize,
    marker: &str,
    within: Duration,
) -> io::Result<String> {
    let started = Instant::now();
    let mut seen = String::new();
    let mut buf = vec![0u8; rate / 20];
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    while started.elapsed() < within && !seen.contains(marker) {
        let tick = Instant::now();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        greenhub::sleep(Duration::from_millis(50).saturating_sub(tick.elapsed()));
        // Keep only the tail: the marker is all that is looked for.
        if seen.len() > 1 << 16 {
            seen.drain(..seen.len() - 1024);
        }
    }
    Ok(seen)
}

fn flood(
    addr: SocketAddr,
    lines: impl Fn(usize) -> String + 'static,
    nick: &str,
    until: Instant,
) -> io::Result<()> {
    let flooder = Client::named(addr, nick)?;
    greenhub::spawn(move || {
        let mut n = 0;
        while Instant::now() < until {
            if writeln!(&flooder.stream, "{}", lines(n)).is_err() {
                break;
            }
            n += 1;
        }
        drop(flooder);
    });
    Ok(())
}

#[test]
fn five_senders_flooding_a_room_cannot_get_an_honest_reader_dropped_or_held_up() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut honest = Client::named(addr, "honest")?;
        let mut bystander = Client::named(addr, "bystander")?;
        let until = Instant::now() + Duration::from_secs(4);
        let filler = "x".repeat(4000);
        for f in 0..5 {
            let filler = filler.clone();
            flood(
                addr,
                move |n| format!("{n} {filler}"),
                &format!("flooder{f}"),
                until,
            )?;
        }
        let seen = read_at(
            &mut honest.stream,
            64 * 1024,
            "never",
            Duration::from_secs(4),
        )?;
        assert!(
            !seen.contains("disconnecting"),
            "the honest reader was dropped"
        );
        // After the flood, a bystander's line reaches it while it reads at the same pace.
        bystander.send("still here?")?;
        let seen = read_at(
            &mut honest.stream,
            64 * 1024,
            "still here?",
            Duration::from_secs(8),
        )?;
        assert!(
            seen.contains("<bystander> still here?"),
            "the honest reader did not hear the bystander within 8 s of the flood"
        );
        assert!(
            !seen.contains("disconnecting"),
            "the honest reader was dropped"
        );
        Ok(())
    })
}

#[test]
fn three_connections_flooding_private_messages_cannot_get_a_victim_dropped() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut victim = Client::named(addr, "victim")?;
        victim.send("/join quiet")?;
        victim.reply()?;
        let until = Instant::now() + Duration::from_secs(4);
        let filler = "y".repeat(4000);
        for f in 0..3 {
            let filler = filler.clone();
            flood(
                addr,
                move |n| format!("/msg victim {n} {filler}"),
                &format!("pm{f}"),
                until,
            )?;
        }
        let seen = read_at(
            &mut victim.stream,
            64 * 1024,
            "never",
            Duration::from_secs(5),
        )?;
        assert!(!seen.contains("disconnecting"), "the victim was dropped");
        victim.send("/help")?;
        let seen = read_at(
            &mut victim.stream,
            64 * 1024,
            "*** commands",
            Duration::from_secs(10),
        )?;
        assert!(
            seen.contains("*** commands"),
            "the victim is no longer served"
        );
        Ok(())
    })
}

#[test]
fn a_private_message_to_a_full_queue_is_refused_to_its_sender_with_a_reason() -> io::Result<()> {
    let config = Config {
        max_rate: 0,
        send_buffer: Some(4096),
        slow_grace: Duration::from_secs(10),
        ..Config::default()
    };
    with_server(config, |addr| {
        let victim = stalled(addr)?;
        (&victim).write_all(b"/nick victim\n")?;
        greenhub::sleep(Duration::from_millis(200));
        let sender = Client::named(addr, "sender")?;
        let filler = "z".repeat(4000);
        let flood = greenhub::spawn(move || -> io::Result<Client> {
            for n in 0..400 {
                writeln!(&sender.stream, "/msg victim {n} {filler}")?;
            }
            Ok(sender)
        });
        let mut sender = flood.join().map_err(io::Error::from)??;
        sender
            .stream
            .set_read_timeout(Some(Duration::from_secs(5)))?;
        let refusal = sender.expect(|l| l.starts_with("!!!"))?;
        assert!(
            refusal.starts_with("!!! victim is not reading") && refusal.contains("not delivered"),
            "{refusal}"
        );
        drop(victim);
        Ok(())
    })
}
