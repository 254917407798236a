//! `chat-load`: many chat clients in rooms, each sending numbered messages at a set rate (or
//! all at once with `--burst`); reports deliveries per second and delivery latency, and checks
//! that every message reached every other member of its room exactly once and in its sender's
//! order.

use chat_demo::load::{run, LoadConfig};
use clap::Parser;
use std::time::Duration;

/// Puts load on a chat server and checks what it delivers.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's address.
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
    /// Also write the report as JSON to this file.
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
    };
    let rooms = config.rooms;
    let sizes = (0..rooms).map(|r| (0..config.clients).filter(|c| c % rooms == r).count() as u64);
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
    let pace = if config.burst {
        "all at once".to_string()
    } else {
        format!("at {}/s", config.rate)
    };
    println!(
        "{} clients in {} room(s), {} messages each {pace}",
        config.clients, config.rooms, config.messages
    );
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
    if let Some(path) = args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&report.to_json(&config))?,
        )?;
    }
    std::process::exit(if report.is_clean() { 0 } else { 1 });
}
