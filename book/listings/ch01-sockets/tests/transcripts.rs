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
