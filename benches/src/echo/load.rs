//! The load generator: `connections` clients on one greenhub hub, each sending 64 bytes and
//! waiting for them to come back, as fast as it can, for a fixed time.

use greenhub::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub round_trips: u64,
    pub elapsed: Duration,
    /// Round-trip latencies in nanoseconds, sorted.
    pub latencies: Vec<u32>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0.0 to 1.0), in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[at] as f64 / 1000.0
    }
}

/// Connects `connections` clients, lets them warm up, then measures for `duration`.
/// `sample_server_cpu` is called when the measured window opens and when it closes; the
/// difference is the server's CPU time for the round trips counted.
pub fn run(
    addr: SocketAddr,
    connections: usize,
    warm_up: Duration,
    duration: Duration,
    sample_server_cpu: impl Fn() -> u64 + 'static,
) -> io::Result<(LoadResult, u64)> {
    greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || -> io::Result<(LoadResult, u64)> {
            let streams: Vec<TcpStream> = (0..connections)
                .map(|_| {
                    let s = TcpStream::connect(addr)?;
                    s.set_nodelay(true)?;
                    Ok(s)
                })
                .collect::<io::Result<_>>()?;
            let start = Instant::now();
            let measure_from = start + warm_up;
            let until = measure_from + duration;
            let clients: Vec<_> = streams
                .into_iter()
                .map(|mut stream| {
                    greenhub::spawn(move || -> io::Result<Vec<u32>> {
                        let message = [b'x'; 64];
                        let mut reply = [0u8; 64];
                        let mut latencies = Vec::new();
                        loop {
                            let sent = Instant::now();
                            if sent >= until {
                                return Ok(latencies);
                            }
                            stream.write_all(&message)?;
                            stream.read_exact(&mut reply)?;
                            if sent >= measure_from {
                                latencies
                                    .push(sent.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                            }
                        }
                    })
                })
                .collect();
            greenhub::sleep_until(measure_from);
            let cpu_before = sample_server_cpu();
            greenhub::sleep_until(until);
            let server_cpu = sample_server_cpu().saturating_sub(cpu_before);
            let mut latencies = Vec::new();
            for client in clients {
                latencies.extend(client.join().map_err(io::Error::from)??);
            }
            latencies.sort_unstable();
            Ok((
                LoadResult {
                    round_trips: latencies.len() as u64,
                    elapsed: duration,
                    latencies,
                },
                server_cpu,
            ))
        })
}
