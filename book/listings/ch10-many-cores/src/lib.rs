//! Chapter 10: one hub per core. `StreamServer::on_all_hubs` gives every hub its own
//! `SO_REUSEPORT` listener, so the kernel spreads connections and no hub hands work to another.
//! The chat server of `chat-demo` is built on it, with rooms that span hubs.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Serves `connections` echo clients on every hub and counts, per hub, how many each served.
pub fn echo_on_all_hubs(connections: usize) -> io::Result<Vec<usize>> {
    echo_served_per_hub(connections, true)
}

/// The same server with one listener: a runtime of two hubs, and every connection on one.
pub fn echo_on_one_listener(connections: usize) -> io::Result<Vec<usize>> {
    echo_served_per_hub(connections, false)
}

// ANCHOR: all_hubs
/// Serves `connections` echo clients on a runtime of two hubs, with one listener per hub when
/// `all_hubs` (else one listener), and counts how many connections each hub served.
pub fn echo_served_per_hub(connections: usize, all_hubs: bool) -> io::Result<Vec<usize>> {
    let hubs = 2;
    greenhub::Runtime::builder()
        .hubs(hubs)
        .build()?
        .run(move || {
            let served: Arc<Vec<AtomicUsize>> =
                Arc::new((0..hubs).map(|_| AtomicUsize::new(0)).collect());
            let counts = served.clone();
            let server = greenhub::StreamServer::bind("127.0.0.1:0", move |mut stream, _| {
                counts[greenhub::current_hub().unwrap_or(0)].fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            })?;
            let server = if all_hubs {
                server.on_all_hubs()
            } else {
                server
            };
            let server = server.start()?;
            let clients: Vec<_> = (0..connections)
                .map(|_| {
                    let addr = server.local_addr();
                    greenhub::spawn(move || -> io::Result<()> {
                        let mut stream = greenhub::net::TcpStream::connect(addr)?;
                        stream.write_all(b"ping")?;
                        stream.read_exact(&mut [0u8; 4])
                    })
                })
                .collect();
            for client in clients {
                client.join().expect("a client panicked")?;
            }
            server.stop(std::time::Duration::from_secs(1));
            Ok(served.iter().map(|c| c.load(Ordering::Relaxed)).collect())
        })
}
// ANCHOR_END: all_hubs

// ANCHOR: chat_on_all_hubs
/// The chat-demo server on two hubs, and a burst: `clients` people in one room each send
/// `lines` lines at once, then read. Returns the load report and how many sessions each hub
/// ran.
pub fn chat_burst_on_all_hubs(
    clients: usize,
    lines: usize,
) -> io::Result<(chat_demo::load::LoadReport, Vec<u64>)> {
    use chat_demo::load::{run, LoadConfig};
    use chat_demo::server::{ChatServer, Config};
    greenhub::Runtime::builder().hubs(2).build()?.run(move || {
        let server = ChatServer::bind("127.0.0.1:0", Config::default().without_address_limits())?;
        let burst = LoadConfig {
            server: server.local_addr().to_string(),
            clients,
            messages: lines,
            burst: true,
            ..LoadConfig::default()
        };
        let report = run(&burst, |_| {})?;
        let per_hub = server.sessions_per_hub();
        let shutdown = greenhub::sync::Event::new();
        shutdown.set();
        server.run_until(&shutdown);
        Ok((report, per_hub))
    })
}
// ANCHOR_END: chat_on_all_hubs
