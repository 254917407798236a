//! Drives an echo server: `echo_load ADDR [CONNECTIONS] [SECONDS]`. Prints round trips per
//! second and p50/p99 latency.

use std::time::Duration;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("127.0.0.1:7007")
        .parse()
        .map_err(std::io::Error::other)?;
    let connections = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(100);
    let seconds = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    greenhub_benches::process::pin_to_cpu(1);
    let (result, _) = greenhub_benches::echo::load::run(
        addr,
        connections,
        Duration::from_millis(300),
        Duration::from_secs_f64(seconds),
        || 0,
    )?;
    println!(
        "{connections} connections: {:.0} round trips/s, p50 {:.1} us, p99 {:.1} us",
        result.per_second(),
        result.latency_us(0.5),
        result.latency_us(0.99)
    );
    Ok(())
}
