//! Resident memory per sleeping green thread (or coroutine, or task): 30,000 of them at once,
//! each with its runtime's default stack, measured as the growth of this process's RSS. Then
//! the CPU an idle greenhub runtime uses: none is due, so it should use none.
//!
//! `corosensei_floor` is not a peer but the floor under greenhub: bare corosensei coroutines on
//! greenhub's default stack size, each suspended once, with no runtime around them.
//!
//! Prints one line per measurement; `cargo bench -p greenhub-benches --bench memory` (`--quick`
//! shortens the idle window from 10 s to 1 s).

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};
use greenhub_benches::peers::{may_one_worker, tokio_timed};
use greenhub_benches::process::process_cpu_and_runs;
use greenhub_benches::rss::resident_bytes;
use std::sync::Arc;
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

fn corosensei_floor_rss() -> f64 {
    let before = resident_bytes().unwrap_or(0);
    let mut suspended: Vec<Coroutine<(), (), (), DefaultStack>> = Vec::with_capacity(COUNT);
    for _ in 0..COUNT {
        let stack = DefaultStack::new(greenhub::DEFAULT_STACK_SIZE).expect("a stack");
        let mut coroutine =
            Coroutine::with_stack(stack, |yielder: &Yielder<(), ()>, ()| yielder.suspend(()));
        coroutine.resume(());
        suspended.push(coroutine);
    }
    let after = resident_bytes().unwrap_or(0);
    // Finished rather than dropped suspended, which would unwind each of them.
    for coroutine in &mut suspended {
        let _ = coroutine.resume(());
    }
    per_thread(before, after)
}

/// Green threads parked through the idle window, spread over the hubs.
const IDLE_GREEN_THREADS: usize = 300;

/// CPU milliseconds the whole process used, and how many times its threads were put on a CPU,
/// while a two-hub runtime sat idle for `window`: every green thread parked, half of them with a
/// timer due well after the window, the main one asleep until the window ends. Run before may
/// and tokio start, whose idle threads would count too.
fn greenhub_idle(window: Duration) -> (f64, u64) {
    greenhub::Runtime::builder()
        .hubs(2)
        .build()
        .unwrap()
        .run(move || {
            let done = Arc::new(greenhub::sync::Event::new());
            let parked: Vec<_> = (0..IDLE_GREEN_THREADS)
                .map(|i| {
                    let done = done.clone();
                    greenhub::spawn_on(i % 2, move || {
                        if i % 4 < 2 {
                            done.wait();
                        } else {
                            done.wait_timeout(window * 10);
                        }
                    })
                })
                .collect();
            greenhub::sleep(Duration::from_millis(200)); // every one of them runs and parks
            let pid = std::process::id();
            let (cpu_before, runs_before) = process_cpu_and_runs(pid).unwrap_or_default();
            greenhub::sleep(window);
            let (cpu_after, runs_after) = process_cpu_and_runs(pid).unwrap_or_default();
            done.set();
            parked.into_iter().for_each(|p| p.join().unwrap());
            (
                cpu_after.saturating_sub(cpu_before) as f64 / 1e6,
                runs_after.saturating_sub(runs_before),
            )
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
    let window = if std::env::args().any(|a| a == "--quick") {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    // Measured in this order: greenhub's idle runtime runs before may and tokio start.
    let greenhub_bytes = greenhub_rss();
    let (idle_cpu_ms, idle_runs) = greenhub_idle(window);
    println!(
        "idle/greenhub_two_hubs: {idle_cpu_ms:.3} ms of CPU and {idle_runs} thread wake-ups in {:.0} s",
        window.as_secs_f64()
    );
    let mut rows = Vec::new();
    for (peer, unit, bytes) in [
        ("greenhub", "green thread", greenhub_bytes),
        ("corosensei_floor", "coroutine", corosensei_floor_rss()),
        ("may", "coroutine", may_rss()),
        ("tokio_current_thread", "task", tokio_rss()),
    ] {
        println!("memory/sleeping_{COUNT}/{peer}: {bytes:.0} bytes per {unit}");
        rows.push(serde_json::json!({"peer": peer, "bytes_per_sleeper": bytes}));
    }
    let idle = serde_json::json!({
        "hubs": 2,
        "green_threads": IDLE_GREEN_THREADS,
        "window_s": window.as_secs_f64(),
        "cpu_ms": idle_cpu_ms,
        "wake_ups": idle_runs,
    });
    if let Err(e) = greenhub_benches::results::record(
        "memory",
        &serde_json::json!({"sleepers": COUNT, "rows": rows, "idle": idle}),
    ) {
        eprintln!("memory: could not record results: {e}");
    }
}
