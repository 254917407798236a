//! The load generator behind `chat-load`: clients in rooms send numbered, time-stamped
//! messages; every receiver checks that it got each other member's messages exactly once and
//! in order, and records how long each took to arrive.
//!
//! Two paces: a steady rate per client (people chatting), or a burst (every client writes all
//! its lines at once, then reads, as a plain sequential socket client does; the load that
//! showed queues filling faster than their writers could run).
//!
//! Some of the clients may be browsers' WebSockets on the web port (`web_clients`): the same
//! lines in text frames, checked the same way, in the same rooms as the line clients.

mod web;

use greenhub::net::TcpStream;
use greenhub::sync::{Event, WaitGroup};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server's address, or several separated by commas (servers of one cluster): client
    /// `i` connects to the `i % n`-th, so every room spans every server.
    pub server: String,
    pub clients: usize,
    pub rooms: usize,
    pub messages: usize,
    /// Messages per second per client.
    pub rate: f64,
    /// Give up waiting for deliveries after this long.
    pub timeout: Duration,
    /// Every client writes all its messages in one go as soon as everyone is in, then reads
    /// (`rate` is ignored). The lines must fit the kernel's socket buffers: a client that is
    /// still writing is not reading, which is what a slow client is.
    pub burst: bool,
    /// The chat's web port, for `web_clients`.
    pub web: String,
    /// Clients that connect as browsers do, by WebSocket to `web`, besides `clients`.
    pub web_clients: usize,
}

impl Default for LoadConfig {
    /// 100 clients in one room, 50 messages each at 10 per second, 60 s to finish.
    fn default() -> LoadConfig {
        LoadConfig {
            server: "127.0.0.1:7878".into(),
            clients: 100,
            rooms: 1,
            messages: 50,
            rate: 10.0,
            timeout: Duration::from_secs(60),
            burst: false,
            web: "127.0.0.1:8080".into(),
            web_clients: 0,
        }
    }
}

/// What was measured.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Clients that stopped before hearing everything meant for them: dropped by the server,
    /// or failed (the first few reasons are in `failures`).
    pub incomplete: u64,
    pub failures: Vec<String>,
    pub elapsed: Duration,
    /// Delivery latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl LoadReport {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// Every message reached every other member of its room once and in order, and every
    /// client stayed to the end.
    pub fn is_clean(&self) -> bool {
        self.lost() == 0 && self.duplicates == 0 && self.out_of_order == 0 && self.incomplete == 0
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
            "rate_per_client": config.rate, "burst": config.burst, "web_clients": config.web_clients, "incomplete": self.incomplete, "expected": self.expected, "delivered": self.delivered,
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
    incomplete: u64,
    failures: Vec<String>,
    latencies_us: Vec<u32>,
}

/// Failure reasons kept for the report; the rest are only counted.
const FAILURES_KEPT: usize = 5;

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
/// When a client cannot connect.
///
/// # Examples
///
/// ```no_run
/// use chat_demo::load::{run, LoadConfig};
/// let config = LoadConfig { clients: 300, messages: 5, burst: true, ..LoadConfig::default() };
/// let report = greenhub::run(move || run(&config, |_| {}))?;
/// assert!(report.is_clean(), "{report:?}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run(config: &LoadConfig, progress: impl Fn(u64) + 'static) -> io::Result<LoadReport> {
    let base = Instant::now();
    let everyone = config.clients + config.web_clients;
    let room_sizes: Vec<u64> = (0..config.rooms)
        .map(|r| (0..everyone).filter(|c| c % config.rooms == r).count() as u64)
        .collect();
    let expected: u64 = room_sizes
        .iter()
        .map(|&n| n * n.saturating_sub(1) * config.messages as u64)
        .sum();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let ready = WaitGroup::new();
    let go = Arc::new(Event::new());
    let done = WaitGroup::new();
    let mut connections = Vec::with_capacity(everyone);
    let servers: Vec<&str> = config.server.split(',').map(str::trim).collect();
    for i in 0..everyone {
        let browser = i >= config.clients;
        let addr = if browser {
            config.web.as_str()
        } else {
            servers[i % servers.len()]
        };
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(config.timeout))?;
        stream.set_nodelay(true)?;
        let link = if browser {
            Link::Web(Arc::new(web::WebLink::connect(addr, stream)?))
        } else {
            Link::Line(stream)
        };
        connections.push((i, Arc::new(link)));
    }
    for (i, stream) in connections {
        let room = i % config.rooms;
        let client = Client {
            i,
            room,
            from_others: (room_sizes[room] - 1) * config.messages as u64,
            messages: config.messages,
            pace: if config.burst {
                None
            } else {
                Some(config.rate)
            },
            base,
        };
        let (ready, go, done, tally) = (ready.clone(), go.clone(), done.clone(), tally.clone());
        greenhub::spawn(move || {
            let _done = done;
            let result = client.run(&stream, ready, &go, &tally);
            let mut t = lock(&tally);
            match result {
                Ok(heard) if heard == client.from_others => {}
                Ok(heard) => {
                    t.incomplete += 1;
                    if t.failures.len() < FAILURES_KEPT {
                        t.failures.push(format!(
                            "client {i}: the server closed after {heard} of {} lines",
                            client.from_others
                        ));
                    }
                }
                Err(e) => {
                    t.incomplete += 1;
                    if t.failures.len() < FAILURES_KEPT {
                        t.failures.push(format!("client {i}: {e}"));
                    }
                }
            }
        });
    }
    ready.wait();
    let start = Instant::now();
    go.set();
    let watcher_tally = tally.clone();
    let watcher = greenhub::spawn(move || loop {
        greenhub::sleep(Duration::from_millis(200));
        progress(lock(&watcher_tally).delivered);
    });
    done.wait_timeout(config.timeout + Duration::from_secs(5));
    let elapsed = start.elapsed();
    watcher.cancel();
    let mut t = std::mem::take(&mut *lock(&tally));
    t.latencies_us.sort_unstable();
    Ok(LoadReport {
        expected,
        delivered: t.delivered,
        duplicates: t.duplicates,
        out_of_order: t.out_of_order,
        incomplete: t.incomplete,
        failures: t.failures,
        elapsed,
        latencies_us: t.latencies_us,
    })
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(|e| e.into_inner())
}

/// A load client's connection.
enum Link {
    Line(TcpStream),
    Web(Arc<web::WebLink>),
}

impl Link {
    /// Sends `text`, one or more lines each ending in `\n`.
    fn send_lines(&self, text: &str) -> io::Result<()> {
        match self {
            Link::Line(stream) => (&*stream).write_all(text.as_bytes()),
            Link::Web(link) => link.send_lines(text),
        }
    }

    /// The lines the server sends.
    fn lines(self: &Arc<Self>) -> Box<dyn Iterator<Item = io::Result<String>>> {
        match &**self {
            Link::Line(_) => Box::new(BufReader::new(LineReads(self.clone())).lines()),
            Link::Web(link) => Box::new(link.lines()),
        }
    }
}

/// Reads a line client's socket through its shared [`Link`].
struct LineReads(Arc<Link>);

impl Read for LineReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &*self.0 {
            Link::Line(stream) => (&*stream).read(buf),
            Link::Web(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }
}

/// One simulated person.
struct Client {
    i: usize,
    room: usize,
    /// Lines it should hear: each other member's messages.
    from_others: u64,
    messages: usize,
    /// Messages per second, or `None` for a burst.
    pace: Option<f64>,
    base: Instant,
}

impl Client {
    /// Joins its room, says it is ready, waits for `go`, sends and reads; returns how many
    /// load lines it heard before the server closed or it had them all.
    fn run(
        &self,
        stream: &Arc<Link>,
        ready: WaitGroup,
        go: &Event,
        tally: &Mutex<Tally>,
    ) -> io::Result<u64> {
        let (i, room) = (self.i, self.room);
        let mut lines = stream.lines();
        expect_reply(&mut lines, "*** welcome")?;
        stream.send_lines(&format!("/nick load-{i}\n"))?;
        expect_reply(&mut lines, "*** you are now")?;
        stream.send_lines(&format!("/join room-{room}\n"))?;
        expect_reply(&mut lines, "*** you are now in")?;
        drop(ready);
        go.wait();
        let sender = match self.pace {
            None => {
                // The burst: every line in one write, before reading anything.
                let stamp = self.base.elapsed().as_nanos() as u64;
                let burst: String = (0..self.messages)
                    .map(|seq| format!("LOAD {i} {seq} {stamp}\n"))
                    .collect();
                stream.send_lines(&burst)?;
                None
            }
            Some(rate) => Some(self.steady_sender(stream.clone(), rate)),
        };
        let heard = self.read(&mut lines, tally)?;
        if let Some(sender) = sender {
            sender.join().map_err(io::Error::from)??;
        }
        Ok(heard)
    }

    /// Numbered, time-stamped messages at `rate`, in a green thread of their own.
    fn steady_sender(&self, stream: Arc<Link>, rate: f64) -> greenhub::JoinHandle<io::Result<()>> {
        let (i, messages, base) = (self.i, self.messages, self.base);
        greenhub::spawn(move || -> io::Result<()> {
            // Clients start at spread-out moments within one send period, as people do.
            let offset = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as f64 / u64::MAX as f64;
            let start = Instant::now() + Duration::from_secs_f64(offset / rate);
            for seq in 0..messages {
                greenhub::sleep_until(start + Duration::from_secs_f64(seq as f64 / rate));
                let stamp = base.elapsed().as_nanos() as u64;
                stream.send_lines(&format!("LOAD {i} {seq} {stamp}\n"))?;
            }
            Ok(())
        })
    }

    /// Reads until it has heard every other member's messages or the server closes; checks
    /// each sender's sequence and records latencies.
    fn read(
        &self,
        lines: &mut impl Iterator<Item = io::Result<String>>,
        tally: &Mutex<Tally>,
    ) -> io::Result<u64> {
        let mut next: HashMap<u64, u64> = HashMap::new();
        let mut seen = 0;
        while seen < self.from_others {
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
            let latency = (self.base.elapsed().as_nanos() as u64).saturating_sub(stamp) / 1000;
            let expected_seq = next.entry(from).or_insert(0);
            let mut t = lock(tally);
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
        Ok(seen)
    }
}
