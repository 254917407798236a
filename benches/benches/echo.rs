//! End-to-end echo: 64-byte ping-pong at 10, 100 and 1,000 connections against greenhub (one hub,
//! and one hub per core), tokio (current_thread), may (one worker), a hand-written epoll loop
//! (the limit), and Go and gevent where they are installed.
//!
//! Each server runs in its own process pinned to CPU 0 (greenhub_all_hubs runs unpinned); the
//! load generator runs here, pinned to CPU 1. Rounds interleave the contenders (A B C D, A B C D,
//! ...) and the report gives medians, so drift on a noisy machine does not pick the winner.
//! `--quick` runs one short round.
//!
//! `cargo bench -p greenhub-benches --bench echo [-- --quick]`

use greenhub_benches::echo::{load, servers::CONTENDERS};
use greenhub_benches::external::{echo_servers, External};
use greenhub_benches::process::{
    median, pin_load_generator, process_cpu_ns, start_announced, unpin,
};
use greenhub_benches::rss::peak_resident_bytes_of_pid;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

struct Sample {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_round_trip: f64,
    peak_rss_mib: f64,
}

enum Contender {
    Built(&'static str),
    External(External),
}

impl Contender {
    fn name(&self) -> &'static str {
        match self {
            Contender::Built(name) => name,
            Contender::External(external) => external.name,
        }
    }

    fn command(&self) -> Command {
        match self {
            Contender::Built(name) if *name == "greenhub_all_hubs" => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_echo_server"));
                command.args([name, "127.0.0.1:0"]);
                // SAFETY: only the sched_setaffinity system call runs between fork and exec.
                unsafe {
                    command.pre_exec(|| {
                        unpin();
                        Ok(())
                    });
                }
                command
            }
            Contender::Built(name) => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_echo_server"));
                command.args([name, "127.0.0.1:0", "0"]);
                command
            }
            Contender::External(external) => external.command("127.0.0.1:0", Some(0)),
        }
    }
}

fn one_run(
    contender: &Contender,
    connections: usize,
    warm_up: Duration,
    measure: Duration,
) -> std::io::Result<Sample> {
    let (mut server, first_line) = start_announced(contender.command())?;
    let addr = first_line.parse().map_err(std::io::Error::other)?;
    let pid = server.id();
    let measured = load::run(addr, connections, warm_up, measure, move || {
        process_cpu_ns(pid).unwrap_or(0)
    });
    let peak = peak_resident_bytes_of_pid(pid).unwrap_or(0);
    server.kill()?;
    server.wait()?;
    let (result, server_cpu_ns) = measured?;
    Ok(Sample {
        per_second: result.per_second(),
        p50_us: result.latency_us(0.50),
        p99_us: result.latency_us(0.99),
        cpu_us_per_round_trip: server_cpu_ns as f64 / 1000.0 / result.round_trips.max(1) as f64,
        peak_rss_mib: peak as f64 / (1024.0 * 1024.0),
    })
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
    let mut contenders: Vec<Contender> = CONTENDERS.iter().map(|c| Contender::Built(c)).collect();
    let (externals, skipped) = echo_servers();
    contenders.extend(externals.into_iter().map(Contender::External));
    for line in &skipped {
        println!("{line}");
    }
    pin_load_generator();
    println!("# Echo: 64-byte ping-pong, {rounds} interleaved round(s) of {measure:?} each\n");
    println!("| connections | server | round trips/s | p50 us | p99 us | server CPU us/round trip | CPU vs epoll | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for connections in [10, 100, 1000] {
        let mut samples: Vec<Vec<Sample>> = contenders.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, contender) in contenders.iter().enumerate() {
                samples[i].push(one_run(contender, connections, warm_up, measure)?);
            }
        }
        let medians: Vec<[f64; 5]> = samples
            .iter()
            .map(|runs| {
                let pick = |f: fn(&Sample) -> f64| median(runs.iter().map(f).collect());
                [
                    pick(|s| s.per_second),
                    pick(|s| s.p50_us),
                    pick(|s| s.p99_us),
                    pick(|s| s.cpu_us_per_round_trip),
                    pick(|s| s.peak_rss_mib),
                ]
            })
            .collect();
        let epoll_cpu = medians[contenders
            .iter()
            .position(|c| c.name() == "epoll")
            .expect("epoll runs")][3];
        for (contender, m) in contenders.iter().zip(&medians) {
            println!(
                "| {connections} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {:+.1}% | {:.1} |",
                contender.name(),
                m[0],
                m[1],
                m[2],
                m[3],
                (m[3] / epoll_cpu - 1.0) * 100.0,
                m[4]
            );
            rows.push(serde_json::json!({
                "connections": connections, "server": contender.name(),
                "round_trips_per_s": m[0], "p50_us": m[1], "p99_us": m[2],
                "cpu_us_per_round_trip": m[3], "peak_rss_mib": m[4],
            }));
        }
    }
    greenhub_benches::results::record(
        "echo",
        &serde_json::json!({
            "rounds": rounds, "measure_s": measure.as_secs_f64(), "rows": rows, "skipped": skipped,
        }),
    )
}
