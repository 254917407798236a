//! `chat-load`: many chat clients in rooms, each sending numbered messages at a set rate (or
//! all at once with `--burst`); reports deliveries per second and delivery latency, and checks
//! that every message reached every other member of its room exactly once and in its sender's
//! order. `--server A,B` spreads the clients over the servers of a cluster (each delivery is
//! checked the same way, across servers). `--hubs 1,2` starts a `chat-server` (built beside
//! this binary) on each of those hub counts in turn, runs the same load against each, and
//! compares them. `--web N` adds N browser-like clients on the web port (WebSocket), checked
//! the same way.

use chat_demo::child::{sibling, ServerProcess};
use chat_demo::load::{run, LoadConfig, LoadReport};
use clap::Parser;
use std::time::Duration;

/// Puts load on a chat server and checks what it delivers.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's address, or several separated by commas (servers of one cluster, see
    /// `chat-server --cluster`): clients go to each in turn, so every room spans them all.
    #[arg(long, default_value = "127.0.0.1:7878")]
    server: String,
    /// Clients to connect (up to 10,000).
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Rooms to spread them over.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Messages each client sends.
    #[arg(long, default_value_t = 50)]
    messages: usize,
    /// Messages per second per client (stay under the server's --max-rate).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Every client sends all its messages at once, then reads (--rate is ignored).
    #[arg(long)]
    burst: bool,
    /// Seconds to wait for deliveries before giving up.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Browser-like clients to add, by WebSocket to --web-server.
    #[arg(long, default_value_t = 0)]
    web: usize,
    /// The server's web port, for --web.
    #[arg(long, default_value = "127.0.0.1:8080")]
    web_server: String,
    /// Start a chat-server on each of these hub counts (comma-separated, e.g. 1,2) and run the
    /// same load against each, instead of using --server.
    #[arg(long, value_delimiter = ',')]
    hubs: Vec<usize>,
    /// Also write the report as JSON to this file (one report per hub count with --hubs).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = LoadConfig {
        server: args.server.clone(),
        clients: args.clients.clamp(1, 10_000),
        rooms: args.rooms.max(1),
        messages: args.messages,
        rate: args.rate.max(0.001),
        timeout: Duration::from_secs(args.timeout),
        burst: args.burst,
        web: args.web_server.clone(),
        web_clients: args.web.min(10_000),
    };
    let pace = if config.burst {
        "all at once".to_string()
    } else {
        format!("at {}/s", config.rate)
    };
    let browsers = if config.web_clients > 0 {
        format!(" and {} WebSocket clients", config.web_clients)
    } else {
        String::new()
    };
    println!(
        "{} clients{browsers} in {} room(s), {} messages each {pace}",
        config.clients, config.rooms, config.messages
    );
    if args.hubs.is_empty() {
        let report = measure(&config)?;
        print_report(&report);
        if let Some(path) = args.json {
            let json = report.to_json(&config);
            std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        }
        std::process::exit(if report.is_clean() { 0 } else { 1 });
    }
    // The comparison: the same load against a fresh server on each hub count. Its servers
    // never rate-limit, so that what differs is only how many hubs serve the room.
    let server_binary = sibling("chat-server")?;
    let max_clients = (config.clients + config.web_clients + 10).to_string();
    let web_arg = if config.web_clients > 0 {
        "127.0.0.1:0"
    } else {
        "off"
    };
    let mut reports = Vec::new();
    for &hubs in &args.hubs {
        let hubs_arg = hubs.max(1).to_string();
        let server = ServerProcess::start(
            &server_binary,
            &[
                "--hubs",
                &hubs_arg,
                "--max-rate",
                "0",
                "--max-per-ip",
                "0",
                "--connects-per-minute",
                "0",
                "--max-clients",
                &max_clients,
                "--web",
                web_arg,
            ],
        )?;
        println!("\n{hubs} hub(s):");
        let report = measure(&LoadConfig {
            server: server.addr().to_string(),
            web: server.web_addr().unwrap_or_default().to_string(),
            ..config.clone()
        })?;
        drop(server);
        print_report(&report);
        reports.push((hubs, report));
    }
    println!("\n| hubs | delivered | deliveries/s | p50 ms | p99 ms | clean |\n|---|---|---|---|---|---|");
    for (hubs, r) in &reports {
        println!(
            "| {hubs} | {} of {} | {:.0} | {:.1} | {:.1} | {} |",
            r.delivered,
            r.expected,
            r.per_second(),
            r.latency_us(0.5) as f64 / 1000.0,
            r.latency_us(0.99) as f64 / 1000.0,
            r.is_clean()
        );
    }
    if let Some(path) = args.json {
        let json: Vec<_> = reports
            .iter()
            .map(|(hubs, r)| serde_json::json!({"hubs": hubs, "report": r.to_json(&config)}))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    let clean = reports.iter().all(|(_, r)| r.is_clean());
    std::process::exit(if clean { 0 } else { 1 });
}

/// Runs the load on a one-hub runtime of its own, with a progress bar.
fn measure(config: &LoadConfig) -> std::io::Result<LoadReport> {
    let rooms = config.rooms;
    let everyone = config.clients + config.web_clients;
    let sizes = (0..rooms).map(|r| (0..everyone).filter(|c| c % rooms == r).count() as u64);
    let expected: u64 = sizes
        .map(|n| n * n.saturating_sub(1) * config.messages as u64)
        .sum();
    let bar = indicatif::ProgressBar::new(expected);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} deliveries ({per_sec}) {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let run_config = config.clone();
    let report = greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || run(&run_config, move |n| progress_bar.set_position(n)))?;
    bar.finish_and_clear();
    Ok(report)
}

fn print_report(report: &LoadReport) {
    println!(
        "delivered {} of {} ({} lost, {} duplicates, {} out of order) in {:.2} s: {:.0} deliveries/s",
        report.delivered,
        report.expected,
        report.lost(),
        report.duplicates,
        report.out_of_order,
        report.elapsed.as_secs_f64(),
        report.per_second()
    );
    println!(
        "delivery latency: p50 {} us, p99 {} us, p99.9 {} us",
        report.latency_us(0.5),
        report.latency_us(0.99),
        report.latency_us(0.999)
    );
    if report.incomplete > 0 {
        println!(
            "{} client(s) stopped before hearing everything: {}",
            report.incomplete,
            report.failures.join("; ")
        );
    }
}
