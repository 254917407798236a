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
