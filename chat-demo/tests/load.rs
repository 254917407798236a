//! chat-load against the real server: zero loss, zero duplicates, every sender's order kept.

use chat_demo::load::{run, LoadConfig};
use chat_demo::server::{serve, Config};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn every_message_reaches_every_other_member_once_and_in_order() -> std::io::Result<()> {
    greenhub::run(|| -> std::io::Result<()> {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(greenhub::sync::Event::new());
        let stop = shutdown.clone();
        let config = Config {
            max_rate: 0,
            ..Config::default().without_address_limits()
        };
        let server = greenhub::spawn(move || serve(listener, config, stop));
        let load = LoadConfig {
            server: addr.to_string(),
            clients: 30,
            rooms: 3,
            messages: 20,
            rate: 200.0,
            timeout: Duration::from_secs(20),
            burst: false,
            ..LoadConfig::default()
        };
        let report = run(&load, |_| {})?;
        shutdown.set();
        server.join().unwrap()?;
        // 3 rooms of 10: each message reaches the 9 others.
        assert_eq!(report.expected, 3 * 10 * 9 * 20);
        assert_eq!(
            (
                report.delivered,
                report.lost(),
                report.duplicates,
                report.out_of_order
            ),
            (report.expected, 0, 0, 0)
        );
        assert_eq!(report.latencies_us.len() as u64, report.expected);
        Ok(())
    })
}

#[test]
fn chat_load_compares_hub_counts_on_servers_of_its_own() -> std::io::Result<()> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args([
            "--hubs",
            "1,2",
            "--clients",
            "40",
            "--messages",
            "3",
            "--burst",
        ])
        .args(["--timeout", "20"])
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "chat-load failed:\n{text}");
    // One row per hub count, every delivery of 40 x 39 x 3 made.
    for hubs in ["1", "2"] {
        let row = format!("| {hubs} | 4680 of 4680 |");
        let line = text.lines().find(|l| l.starts_with(&row));
        assert!(
            line.is_some_and(|l| l.ends_with("| true |")),
            "no clean row for {hubs} hub(s):\n{text}"
        );
    }
    Ok(())
}
