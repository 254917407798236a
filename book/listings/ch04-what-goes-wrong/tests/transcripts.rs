//! Reproduces each failure of the chapter on 127.0.0.1 and checks the output it shows.

use book_transcript::{check, Output};
use std::io::Write;
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

#[test]
fn clients_are_served_in_turn() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let clients = std::thread::spawn(move || -> std::io::Result<()> {
        for name in ["ann", "ben"] {
            let mut stream = TcpStream::connect(addr)?;
            writeln!(stream, "hello from {name}")?;
        }
        Ok(())
    });
    let mut log = Output::default();
    ch04_what_goes_wrong::serve_in_turn(&listener, 2, &mut log)?;
    clients.join().unwrap()?;
    check(DIR, "output/next_client.txt", &log.text());
    Ok(())
}
