//! End-to-end echo: 64-byte ping-pong against greenhub, tokio (current_thread), may (one worker)
//! and a hand-written epoll loop (the limit), at 10, 100 and 1,000 connections.
//!
//! Each server runs in its own process pinned to CPU 0; the load generator runs here, pinned to
//! CPU 1. Rounds interleave the contenders (A B C D, A B C D, ...) and the report gives medians,
//! so drift on a noisy machine does not pick the winner. `--quick` runs one short round.
//!
//! `cargo bench -p greenhub-benches --bench echo [-- --quick]`

use greenhub_benches::echo::{load, servers::CONTENDERS};
use greenhub_benches::process::{pin_to_cpu, process_cpu_ns};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Sample {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_round_trip: f64,
}

fn one_run(
    contender: &str,
    connections: usize,
    warm_up: Duration,
    measure: Duration,
) -> std::io::Result<Sample> {
    let mut server = Command::new(env!("CARGO_BIN_EXE_echo_server"))
        .args([contender, "127.0.0.1:0", "0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut first_line = String::new();
    BufReader::new(server.stdout.take().expect("piped")).read_line(&mut first_line)?;
    let addr = first_line.trim().parse().map_err(std::io::Error::other)?;
    let pid = server.id();
    let measured = load::run(addr, connections, warm_up, measure, move || {
        process_cpu_ns(pid).unwrap_or(0)
    });
    server.kill()?;
    server.wait()?;
    let (result, server_cpu_ns) = measured?;
    Ok(Sample {
        per_second: result.per_second(),
        p50_us: result.latency_us(0.50),
        p99_us: result.latency_us(0.99),
        cpu_us_per_round_trip: server_cpu_ns as f64 / 1000.0 / result.round_trips.max(1) as f64,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, warm_up, measure) = if quick {
        (1, Duration::from_millis(200), Duration::from_millis(500))
    } else {
        (3, Duration::from_millis(500), Duration::from_secs(3))
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus >= 2 {
        pin_to_cpu(1);
    } else {
        println!("note: one CPU only, so server and load generator share it");
    }
    println!("# Echo: 64-byte ping-pong, {rounds} interleaved round(s) of {measure:?} each\n");
    println!("| connections | server | round trips/s | p50 us | p99 us | server CPU us/round trip | CPU vs epoll |");
    println!("|---|---|---|---|---|---|---|");
    for connections in [10, 100, 1000] {
        let mut samples: Vec<Vec<Sample>> = CONTENDERS.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, contender) in CONTENDERS.iter().enumerate() {
                samples[i].push(one_run(contender, connections, warm_up, measure)?);
            }
        }
        let medians: Vec<[f64; 4]> = samples
            .iter()
            .map(|runs| {
                let pick =
                    |f: fn(&Sample) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
                [
                    pick(|s| s.per_second),
                    pick(|s| s.p50_us),
                    pick(|s| s.p99_us),
                    pick(|s| s.cpu_us_per_round_trip),
                ]
            })
            .collect();
        let epoll_cpu = medians[CONTENDERS
            .iter()
            .position(|c| *c == "epoll")
            .expect("epoll runs")][3];
        for (contender, m) in CONTENDERS.iter().zip(&medians) {
            println!(
                "| {connections} | {contender} | {:.0} | {:.1} | {:.1} | {:.2} | {:+.1}% |",
                m[0],
                m[1],
                m[2],
                m[3],
                (m[3] / epoll_cpu - 1.0) * 100.0
            );
        }
    }
    Ok(())
}
