//! `chat-soak`: holds many clients on a `chat-server` child process in rounds for a set time,
//! checks every delivery with `chat-load`'s checker, and samples the server's resident memory
//! and open descriptors, which must stay flat once warm (no leaks).
//!
//! `cargo run --release -p chat-demo --bin chat-soak -- --clients 10000 --rooms 100 --duration 1800`
//! (30 minutes); `--quick` is the short form CI runs.

use chat_demo::child::{sibling, ServerProcess};
use chat_demo::load::{run, LoadConfig, LoadReport};
use clap::Parser;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Soak a chat server: rounds of clients in rooms, every delivery checked, memory and
/// descriptors sampled.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Clients connected at once in each round.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Rooms to spread them over.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Messages each client sends per round.
    #[arg(long, default_value_t = 3)]
    messages: usize,
    /// Messages per second per client.
    #[arg(long, default_value_t = 0.5)]
    rate: f64,
    /// Keep starting rounds for this many seconds (at least one round runs).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Short run for CI: 500 clients in 10 rooms, two rounds.
    #[arg(long)]
    quick: bool,
    /// Also write the summary as Markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

/// The server during one round (peaks, with every client connected) and after it (once the
/// clients have gone).
struct Sample {
    at: Duration,
    round: usize,
    peak_rss_kib: u64,
    peak_descriptors: usize,
    rss_kib: u64,
    descriptors: usize,
}

/// Samples the server every 250 ms while `f` runs; returns `f`'s value and the peaks.
fn watching<T>(pid: u32, f: impl FnOnce() -> T) -> (T, u64, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let running = std::sync::Arc::new(AtomicBool::new(true));
    let still = running.clone();
    let watcher = std::thread::spawn(move || {
        let (mut rss, mut fds) = (0, 0);
        while still.load(Ordering::Relaxed) {
            rss = rss.max(rss_kib(pid));
            fds = fds.max(descriptors(pid));
            std::thread::sleep(Duration::from_millis(250));
        }
        (rss, fds)
    });
    let value = f();
    running.store(false, Ordering::Relaxed);
    let (rss, fds) = watcher.join().unwrap_or((0, 0));
    (value, rss, fds)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Raises this process's descriptor limit to its hard limit; children inherit it.
fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit get a valid pointer to an rlimit struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

fn start_server(clients: usize) -> std::io::Result<ServerProcess> {
    let max_clients = (clients + 10).to_string();
    ServerProcess::start(
        &sibling("chat-server")?,
        &[
            "--hubs",
            "1",
            "--max-rate",
            "0",
            "--max-per-ip",
            "0",
            "--connects-per-minute",
            "0",
            "--max-clients",
            &max_clients,
            "--queue",
            "4096",
        ],
    )
}

fn main() -> std::io::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        (
            args.clients,
            args.rooms,
            args.messages,
            args.rate,
            args.duration,
        ) = (500, 10, 2, 2.0, 0);
    }
    let limit = raise_descriptor_limit();
    if (limit as usize) < args.clients + 100 {
        println!(
            "skipped: the descriptor limit is {limit}, too low for {} clients; raise `ulimit -n`",
            args.clients
        );
        return Ok(());
    }
    let server = start_server(args.clients)?;
    let (pid, addr) = (server.pid(), server.addr().to_string());
    std::thread::sleep(Duration::from_millis(200));
    let baseline_fds = descriptors(pid);
    let started = Instant::now();
    let config = LoadConfig {
        server: addr,
        clients: args.clients,
        rooms: args.rooms,
        messages: args.messages,
        rate: args.rate,
        timeout: Duration::from_secs(120),
        burst: false,
        ..LoadConfig::default()
    };
    let rss_at_start = rss_kib(pid);
    let mut samples = vec![Sample {
        at: Duration::ZERO,
        round: 0,
        peak_rss_kib: rss_at_start,
        peak_descriptors: baseline_fds,
        rss_kib: rss_at_start,
        descriptors: baseline_fds,
    }];
    let mut totals = LoadReport::default();
    let mut round = 0;
    let result = loop {
        round += 1;
        let round_config = config.clone();
        let runtime = greenhub::Runtime::builder().hubs(1).build()?;
        let (report, peak_rss_kib, peak_descriptors) =
            watching(pid, move || runtime.run(move || run(&round_config, |_| {})));
        let report = match report {
            Ok(report) => report,
            Err(e) => break Err(e),
        };
        // The clients are gone: the server's descriptors must come back down.
        let settle = Instant::now();
        while descriptors(pid) > baseline_fds && settle.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        // An idle hub gives back its spare stacks' pages a slice at a time: let it finish, so
        // that samples compare like with like.
        std::thread::sleep(Duration::from_millis(500));
        samples.push(Sample {
            at: started.elapsed(),
            round,
            peak_rss_kib,
            peak_descriptors,
            rss_kib: rss_kib(pid),
            descriptors: descriptors(pid),
        });
        println!(
            "round {round}: {} of {} delivered, {} lost, {} duplicates, {} out of order, {:.0}/s, p99 {} ms; server {} KiB, {} fds",
            report.delivered, report.expected, report.lost(), report.duplicates, report.out_of_order,
            report.per_second(), report.latency_us(0.99) / 1000,
            samples.last().map_or(0, |s| s.rss_kib), samples.last().map_or(0, |s| s.descriptors)
        );
        totals.expected += report.expected;
        totals.delivered += report.delivered;
        totals.duplicates += report.duplicates;
        totals.out_of_order += report.out_of_order;
        if started.elapsed() >= Duration::from_secs(args.duration) && round >= 2 {
            break Ok(());
        }
    };
    drop(server);
    result?;
    // Warm after the first round: later rounds may not grow it beyond noise.
    // Both the peak with every client connected and the level once they have gone must stay
    // within 10% + 1 MiB of round 1's: a leak raises both, round after round.
    let within = |warm: u64, later: u64| later <= warm + warm / 10 + 1024;
    let later = &samples[2..];
    let peak_max = later.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0);
    let after_max = later.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let rss_flat =
        within(samples[1].peak_rss_kib, peak_max) && within(samples[1].rss_kib, after_max);
    let fds_flat = samples[1..].iter().all(|s| s.descriptors <= baseline_fds);
    let clean = totals.lost() == 0 && totals.duplicates == 0 && totals.out_of_order == 0;
    let mut md = format!(
        "{} clients in {} rooms, {} messages each per round at {}/s, {} rounds in {:.0} s\n\n\
         | round | at | server RSS KiB, peak in round | descriptors, peak in round | RSS KiB after round | descriptors after round |\n|---|---|---|---|---|---|\n",
        args.clients,
        args.rooms,
        args.messages,
        args.rate,
        round,
        started.elapsed().as_secs_f64()
    );
    for s in &samples {
        md += &format!(
            "| {} | {:.0} s | {} | {} | {} | {} |\n",
            s.round,
            s.at.as_secs_f64(),
            s.peak_rss_kib,
            s.peak_descriptors,
            s.rss_kib,
            s.descriptors
        );
    }
    md += &format!(
        "\ndelivered {} of {} ({} lost, {} duplicates, {} out of order); server RSS (peak in each round, and after it) stays within 10% + 1 MiB of round 1's: {rss_flat}; descriptors back to the baseline of {baseline_fds} after every round: {fds_flat}\n",
        totals.delivered, totals.expected, totals.lost(), totals.duplicates, totals.out_of_order
    );
    println!("\n{md}");
    if let Some(path) = args.markdown {
        std::fs::write(path, &md)?;
    }
    std::process::exit(if clean && rss_flat && fds_flat { 0 } else { 1 });
}
