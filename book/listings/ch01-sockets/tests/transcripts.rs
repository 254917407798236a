//! Runs the chapter's programs on 127.0.0.1:0 and checks the output the chapter shows.

use book_transcript::{check, Output};
use std::net::TcpListener;

#[test]
fn a_greeting_crosses_the_socket_as_utf8_bytes() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let log = Output::default();
    let mut server_log = log.clone();
    let server = std::thread::spawn(move || ch01_sockets::greet_one(&listener, &mut server_log));
    let text = ch01_sockets::fetch(addr, &mut log.clone())?;
    server.join().unwrap()?;
    assert_eq!(text, "héllo, wörld\n");
    // The two sides print concurrently; sort so the transcript does not depend on timing.
    let mut lines: Vec<String> = log.text().lines().map(str::to_string).collect();
    lines.sort_by_key(|l| !l.starts_with("server"));
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/greeting.txt",
        &(lines.join("\n") + "\n"),
    );
    Ok(())
}

#[test]
fn the_tour_of_addresses() -> std::io::Result<()> {
    let mut log = Output::default();
    ch01_sockets::tour_of_addresses(&mut log)?;
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/addresses.txt",
        &log.text(),
    );
    Ok(())
}

/// Replaces each port number after `127.0.0.1:` with a name, so the transcript does not depend
/// on which free ports the system handed out.
fn without_ports(text: &str, names: &[(u16, &str)]) -> String {
    let mut text = text.to_string();
    for (port, name) in names {
        text = text.replace(&format!("127.0.0.1:{port}:"), &format!("127.0.0.1:{name}:"));
    }
    text
}

#[test]
fn a_name_resolves_to_addresses_and_each_is_tried_in_turn() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let dead = TcpListener::bind("127.0.0.1:0")?.local_addr()?; // bound, then closed
    let mut log = Output::default();
    // A name: `localhost` resolves through getaddrinfo (on this machine to 127.0.0.1 only).
    ch01_sockets::connect_to_any(("localhost", port), &mut log)?;
    // Two addresses, the first with nobody listening, as a resolver may return them.
    let live = listener.local_addr()?;
    ch01_sockets::connect_to_any(&[dead, live][..], &mut log)?;
    let text = log.text();
    assert!(
        text.ends_with(&format!("127.0.0.1:{port}: connected\n")),
        "{text}"
    );
    let shown: String = text
        .lines()
        .filter(|l| l.starts_with("127.0.0.1:")) // a machine whose localhost is also ::1 adds a line
        .map(|l| format!("{l}\n"))
        .collect();
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/resolve.txt",
        &without_ports(&shown, &[(port, "PORT"), (dead.port(), "DEAD")]),
    );
    Ok(())
}
