//! The load generator behind `chat-load`: clients in rooms send numbered, time-stamped
//! messages; every receiver checks that it got each other member's messages exactly once and
//! in order, and records how long each took to arrive.

use greenhub::net::TcpStream;
use greenhub::sync::{Event, WaitGroup};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub server: String,
    pub clients: usize,
    pub rooms: usize,
    pub messages: usize,
    /// Messages per second per client.
    pub rate: f64,
    /// Give up waiting for deliveries after this long.
    pub timeout: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub elapsed: Duration,
    /// Delivery latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl LoadReport {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    pub fn per_second(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` in microseconds.
    pub fn latency_us(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        self.latencies_us[((self.latencies_us.len() - 1) as f64 * q).round() as usize]
    }

    /// The report as JSON.
    pub fn to_json(&self, config: &LoadConfig) -> serde_json::Value {
        serde_json::json!({
            "clients": config.clients, "rooms": config.rooms, "messages_per_client": config.messages,
            "rate_per_client": config.rate, "expected": self.expected, "delivered": self.delivered,
            "lost": self.lost(), "duplicates": self.duplicates, "out_of_order": self.out_of_order,
            "elapsed_s": self.elapsed.as_secs_f64(), "deliveries_per_s": self.per_second(),
            "p50_us": self.latency_us(0.50), "p99_us": self.latency_us(0.99), "p999_us": self.latency_us(0.999),
        })
    }
}

/// Per receiver: the next sequence number expected from each sender, and what arrived.
#[derive(Default)]
struct Tally {
    delivered: u64,
    duplicates: u64,
    out_of_order: u64,
    latencies_us: Vec<u32>,
}

fn expect_reply(
    lines: &mut impl Iterator<Item = io::Result<String>>,
    prefix: &str,
) -> io::Result<()> {
    for line in lines {
        if line?.starts_with(prefix) {
            return Ok(());
        }
    }
    Err(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the server closed before '{prefix}'"),
    ))
}

/// Runs the load; `progress` is called with the number of deliveries so far, now and then.
/// Call it from a green thread.
///
/// # Errors
///
/// When a client cannot connect or set itself up.
pub fn run(config: &LoadConfig, progress: impl Fn(u64) + 'static) -> io::Result<LoadReport> {
    let base = Instant::now();
    let room_sizes: Vec<u64> = (0..config.rooms)
        .map(|r| {
            (0..config.clients)
                .filter(|c| c % config.rooms == r)
                .count() as u64
        })
        .collect();
    let expected: u64 = room_sizes
        .iter()
        .map(|&n| n * n.saturating_sub(1) * config.messages as u64)
        .sum();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let ready = WaitGroup::new();
    let go = Arc::new(Event::new());
    let done = WaitGroup::new();
    let mut connections = Vec::with_capacity(config.clients);
    for i in 0..config.clients {
        let stream = TcpStream::connect(config.server.as_str())?;
        stream.set_read_timeout(Some(config.timeout))?;
        stream.set_nodelay(true)?;
        connections.push((i, stream));
    }
    for (i, stream) in connections {
        let room = i % config.rooms;
        let from_others = (room_sizes[room] - 1) * config.messages as u64;
        let (ready, go, done, tally, messages, rate) = (
            ready.clone(),
            go.clone(),
            done.clone(),
            tally.clone(),
            config.messages,
            config.rate,
        );
        greenhub::spawn(move || -> io::Result<()> {
            let _done = done;
            let mut lines = BufReader::new(stream.try_clone()?).lines();
            expect_reply(&mut lines, "*** welcome")?;
            writeln!(&stream, "/nick load-{i}")?;
            expect_reply(&mut lines, "*** you are now")?;
            writeln!(&stream, "/join room-{room}")?;
            expect_reply(&mut lines, "*** you are now in")?;
            // The sender: numbered, time-stamped messages at the set rate, in its own green thread.
            let sender_stream = stream.try_clone()?;
            let go_sender = go.clone();
            let sender = greenhub::spawn(move || -> io::Result<()> {
                go_sender.wait();
                // Clients start at spread-out moments within one send period, as people do.
                let offset =
                    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as f64 / u64::MAX as f64;
                let start = Instant::now() + Duration::from_secs_f64(offset / rate);
                for seq in 0..messages {
                    greenhub::sleep_until(start + Duration::from_secs_f64(seq as f64 / rate));
                    let stamp = base.elapsed().as_nanos() as u64;
                    writeln!(&sender_stream, "LOAD {i} {seq} {stamp}")?;
                }
                Ok(())
            });
            drop(ready);
            let mut next: HashMap<u64, u64> = HashMap::new();
            let mut seen = 0;
            while seen < from_others {
                let Some(line) = lines.next() else { break };
                let line = line?;
                let Some(body) = line.split_once("> LOAD ").map(|(_, b)| b) else {
                    continue;
                };
                let mut fields = body
                    .split(' ')
                    .map(|f| f.parse::<u64>().unwrap_or(u64::MAX));
                let (Some(from), Some(seq), Some(stamp)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                seen += 1;
                let latency = (base.elapsed().as_nanos() as u64).saturating_sub(stamp) / 1000;
                let expected_seq = next.entry(from).or_insert(0);
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                if seq < *expected_seq {
                    t.duplicates += 1;
                } else {
                    if seq > *expected_seq {
                        t.out_of_order += 1;
                    }
                    *expected_seq = seq + 1;
                    t.delivered += 1;
                }
                t.latencies_us.push(latency.min(u32::MAX as u64) as u32);
            }
            sender.join().map_err(io::Error::from)??;
            Ok(())
        });
    }
    ready.wait();
    let start = Instant::now();
    go.set();
    let watcher_tally = tally.clone();
    let watcher = greenhub::spawn(move || loop {
        greenhub::sleep(Duration::from_millis(200));
        progress(
            watcher_tally
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .delivered,
        );
    });
    done.wait_timeout(config.timeout + Duration::from_secs(5));
    let elapsed = start.elapsed();
    watcher.cancel();
    let mut t = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    t.latencies_us.sort_unstable();
    Ok(LoadReport {
        expected,
        delivered: t.delivered,
        duplicates: t.duplicates,
        out_of_order: t.out_of_order,
        elapsed,
        latencies_us: t.latencies_us,
    })
}
