//! Resident memory per sleeping green thread (or coroutine, or task): 30,000 of them at once,
//! each with its runtime's default stack, measured as the growth of this process's RSS.
//!
//! Prints one line per peer; `cargo bench -p greenhub-benches --bench memory`.

use greenhub_benches::peers::{may_one_worker, tokio_timed};
use greenhub_benches::rss::resident_bytes;
use std::time::Duration;

const COUNT: usize = 30_000;
const NAP: Duration = Duration::from_millis(500);

fn per_thread(before: u64, after: u64) -> f64 {
    after.saturating_sub(before) as f64 / COUNT as f64
}

fn greenhub_rss() -> f64 {
    greenhub::Runtime::builder()
        .hubs(1)
        .build()
        .unwrap()
        .run(|| {
            let before = resident_bytes().unwrap_or(0);
            let sleepers: Vec<_> = (0..COUNT)
                .map(|_| greenhub::spawn(|| greenhub::sleep(NAP)))
                .collect();
            greenhub::yield_now(); // every sleeper runs once and parks on its timer
            let after = resident_bytes().unwrap_or(0);
            sleepers.into_iter().for_each(|s| s.join().unwrap());
            per_thread(before, after)
        })
}

fn may_rss() -> f64 {
    may_one_worker();
    may::go!(|| {
        let before = resident_bytes().unwrap_or(0);
        let sleepers: Vec<_> = (0..COUNT)
            .map(|_| may::go!(|| may::coroutine::sleep(NAP)))
            .collect();
        may::coroutine::yield_now();
        may::coroutine::sleep(Duration::from_millis(50));
        let after = resident_bytes().unwrap_or(0);
        sleepers.into_iter().for_each(|s| s.join().unwrap());
        per_thread(before, after)
    })
    .join()
    .unwrap()
}

fn tokio_rss() -> f64 {
    let per = tokio_timed(async {
        let before = resident_bytes().unwrap_or(0);
        let sleepers: Vec<_> = (0..COUNT)
            .map(|_| tokio::spawn(tokio::time::sleep(NAP)))
            .collect();
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = resident_bytes().unwrap_or(0);
        for s in sleepers {
            s.await.unwrap();
        }
        Duration::from_nanos(per_thread(before, after) as u64)
    });
    per.as_nanos() as f64
}

fn main() {
    if resident_bytes().is_none() {
        println!("memory: skipped, /proc/self/statm is not available on this system");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut rows = Vec::new();
    for (peer, unit, bytes) in [
        ("greenhub", "green thread", greenhub_rss()),
        ("may", "coroutine", may_rss()),
        ("tokio_current_thread", "task", tokio_rss()),
    ] {
        println!("memory/sleeping_{COUNT}/{peer}: {bytes:.0} bytes per {unit}");
        rows.push(serde_json::json!({"peer": peer, "bytes_per_sleeper": bytes}));
    }
    if let Err(e) = greenhub_benches::results::record(
        "memory",
        &serde_json::json!({"sleepers": COUNT, "rows": rows}),
    ) {
        eprintln!("memory: could not record results: {e}");
    }
}
