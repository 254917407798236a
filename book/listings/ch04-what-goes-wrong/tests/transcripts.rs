//! Reproduces each failure of the chapter on 127.0.0.1 and checks the output it shows.

use book_transcript::{check, Output};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn a_client_started_before_its_server_waits_for_it() -> std::io::Result<()> {
    let addr = ch04_what_goes_wrong::unused_port()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(250));
        let listener = TcpListener::bind(addr)?;
        listener.accept()?;
        Ok(())
    });
    let mut log = Output::default();
    ch04_what_goes_wrong::connect_patiently(addr, 50, &mut log)?;
    server.join().unwrap()?;
    // How many times it waited depends on timing; the chapter shows the first two lines.
    assert!(log.text().lines().count() >= 2, "it waited at least twice");
    let first_two: String = log
        .text()
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    check(DIR, "output/retry.txt", &first_two);
    Ok(())
}

#[test]
fn a_server_that_goes_away_is_noticed_on_a_later_write() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    drop(listener.accept()?); // the server closes at once
    let mut log = Output::default();
    ch04_what_goes_wrong::write_until_the_server_is_gone(client, &mut log)?;
    let text = log.text();
    assert!(text.contains("the server is gone: true"), "{text}");
    let without_count = text
        .split_once("failed")
        .map(|(_, rest)| rest)
        .unwrap_or("");
    check(
        DIR,
        "output/server_gone.txt",
        &format!("write N failed{without_count}"),
    );
    Ok(())
}

#[test]
fn ignoring_a_read_of_zero_spins() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (served, _) = listener.accept()?;
    client.write_all(b"bye\n")?;
    drop(client);
    let mut log = Output::default();
    ch04_what_goes_wrong::spin_at_eof(served, &mut log)?;
    check(DIR, "output/spin.txt", &log.text());
    Ok(())
}

#[test]
fn time_wait_holds_the_port_without_so_reuseaddr() -> std::io::Result<()> {
    let mut log = Output::default();
    ch04_what_goes_wrong::rebind_after_close(&mut log)?;
    check(DIR, "output/reuse.txt", &log.text());
    Ok(())
}

/// Connects, says one line and returns the stream and a reader for the replies.
fn say(
    addr: std::net::SocketAddr,
    line: &str,
) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    (&stream).write_all(format!("{line}\n").as_bytes())?;
    let replies = BufReader::new(stream.try_clone()?);
    Ok((stream, replies))
}

fn hear(replies: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    replies.read_line(&mut line)?;
    Ok(line)
}

#[test]
fn clients_are_served_in_turn() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut log = Output::default();
    let mut server_log = log.clone();
    let server = std::thread::spawn(move || {
        ch04_what_goes_wrong::serve_in_turn(&listener, 2, &mut server_log)
    });
    for name in ["ann", "ben"] {
        let (stream, mut replies) = say(addr, &format!("hello from {name}"))?;
        let echo = hear(&mut replies)?;
        stream.shutdown(std::net::Shutdown::Both)?; // leave
        write!(log, "{name} hears: {echo}")?;
    }
    server.join().unwrap()?;
    check(DIR, "output/next_client.txt", &log.text());
    Ok(())
}

#[test]
fn one_clients_error_does_not_end_the_server() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut server_log = Output::default();
    let log = server_log.clone();
    let server = std::thread::spawn(move || {
        ch04_what_goes_wrong::serve_in_turn(&listener, 2, &mut server_log)
    });
    let mut bad = TcpStream::connect(addr)?;
    bad.write_all(b"\xff not UTF-8\n")?; // `line?` fails on this
    let (stream, mut replies) = say(addr, "hello from ben")?;
    let echo = hear(&mut replies)?;
    stream.shutdown(std::net::Shutdown::Both)?;
    drop(bad);
    assert_eq!(
        echo, "echo: hello from ben\n",
        "the next client was not served"
    );
    server.join().unwrap()?;
    assert!(
        log.text().contains("that client's connection failed"),
        "{}",
        log.text()
    );
    Ok(())
}

// Reads /proc/net/tcp, which only Linux has.
#[cfg(target_os = "linux")]
/// Waits (up to 10 s) until the kernel's table of `port` is what `settled` wants (packets on
/// loopback are handled at once, but a busy machine may lag), then returns it.
fn settled_states(port: u16, settled: impl Fn(&[String]) -> bool) -> std::io::Result<Vec<String>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let states = ch04_what_goes_wrong::tcp_states(port)?;
        if settled(&states) || std::time::Instant::now() > deadline {
            return Ok(states);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Reads /proc/net/tcp, which only Linux has.
#[cfg(target_os = "linux")]
#[test]
fn the_second_client_waits_in_the_backlog() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut log = Output::default();
    let server = std::thread::spawn(move || {
        ch04_what_goes_wrong::serve_in_turn(&listener, 2, &mut std::io::sink())
    });
    let (ann, mut ann_replies) = say(addr, "hello from ann")?;
    write!(log, "ann hears: {}", hear(&mut ann_replies)?)?;
    let (ben, mut ben_replies) = say(addr, "hello from ben")?;
    writeln!(log, "ben connected and sent his line")?;
    ben.set_read_timeout(Some(Duration::from_secs(1)))?;
    let waited = hear(&mut ben_replies);
    let timed_out = matches!(&waited, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    writeln!(log, "ben hears nothing for a second: {timed_out}")?;
    writeln!(log, "the kernel's table for the server's port:")?;
    for row in settled_states(addr.port(), |s| s.iter().any(|r| r.contains("backlog: 1")))? {
        writeln!(log, "  {row}")?;
    }
    ann.shutdown(std::net::Shutdown::Both)?;
    drop(ann_replies);
    writeln!(log, "ann leaves")?;
    ben.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(log, "ben hears: {}", hear(&mut ben_replies)?)?;
    ben.shutdown(std::net::Shutdown::Both)?;
    server.join().unwrap()?;
    check(DIR, "output/backlog.txt", &log.text());
    Ok(())
}

// Reads /proc/net/tcp, which only Linux has.
#[cfg(target_os = "linux")]
#[test]
fn a_connection_through_its_states() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut log = Output::default();
    let client = TcpStream::connect(("127.0.0.1", port))?;
    let range = ch04_what_goes_wrong::ephemeral_range()?;
    let ephemeral = client.local_addr()?.port();
    writeln!(
        log,
        "the client's port is in net.ipv4.ip_local_port_range: {}",
        range.contains(&ephemeral)
    )?;
    let (served, _) = listener.accept()?;
    writeln!(log, "connected:")?;
    for row in settled_states(port, |s| s.len() == 3)? {
        writeln!(log, "  {row}")?;
    }
    drop(listener);
    drop(served); // the server closes first
    writeln!(log, "the server closed its end:")?;
    for row in settled_states(port, |s| s.iter().any(|r| r.contains("FIN_WAIT2")))? {
        writeln!(log, "  {row}")?;
    }
    drop(client);
    writeln!(log, "the client closed too:")?;
    for row in settled_states(port, |s| s.len() == 1)? {
        writeln!(log, "  {row}")?;
    }
    check(DIR, "output/states.txt", &log.text());
    Ok(())
}
