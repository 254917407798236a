//! The chapter's scenarios against the real chat-demo server on 127.0.0.1:0.

use book_transcript::{check, Output};
use chat_demo::server::{serve, Config};
use std::sync::Arc;

fn with_server(
    config: Config,
    scenario: fn(std::net::SocketAddr, &mut Output) -> std::io::Result<()>,
) -> String {
    greenhub::run(move || -> std::io::Result<String> {
        let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(greenhub::sync::Event::new());
        let stop = shutdown.clone();
        let server = greenhub::spawn(move || serve(listener, config, stop));
        let mut log = Output::default();
        let result = scenario(addr, &mut log);
        shutdown.set();
        server.join().unwrap()?;
        result.map(|()| log.text())
    })
    .unwrap()
}

#[test]
fn a_tour_of_the_protocol() {
    let config = Config {
        max_line: 64,
        ..Config::default()
    };
    let text = with_server(config, ch08_chat_room::tour);
    check(env!("CARGO_MANIFEST_DIR"), "output/tour.txt", &text);
}

#[test]
fn a_slow_reader_is_dropped_and_nobody_else_waits() {
    let config = Config {
        queue: 8,
        max_rate: 0,
        max_line: 20_000,
        ..Config::default()
    };
    let text = with_server(config, ch08_chat_room::slow_reader);
    check(env!("CARGO_MANIFEST_DIR"), "output/slow_reader.txt", &text);
}

#[test]
fn a_reader_that_stops_freezes_the_chapter_7_server() {
    let lines = 2000;
    let (heard, stalled) = ch08_chat_room::freeze_the_green_chat(lines).unwrap();
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/freeze.txt",
        &format!(
            "tom sent 2,000 lines of 10 KB\n\
             lea heard all of them: {}\n\
             lea then waited a whole second for the next line: {stalled}\n",
            heard == lines,
        ),
    );
}
