//! How each peer runtime is started for a measurement: one hub, one worker, one thread; and the
//! timed loop every bench body runs inside it.

use crate::process::announce;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

/// The criterion settings every bench against peers runs with (the command line still
/// overrides them, as `report --quick` does); only the sample count differs between benches.
pub fn criterion_config(sample_size: usize) -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(sample_size)
}

/// Times `iters` calls of `step` (given the round number) and nothing else, so that every peer's
/// body is measured the same way. Generic, so `step` is inlined into the loop as if written there.
pub fn timed_loop(iters: u64, mut step: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        step(i);
    }
    start.elapsed()
}

/// [`timed_loop`] for async peers: awaits the future `step` makes for each round in turn.
pub async fn timed_loop_async<F: Future<Output = ()>>(
    iters: u64,
    mut step: impl FnMut(u64) -> F,
) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        step(i).await;
    }
    start.elapsed()
}

/// Runs `f` as the main green thread of a one-hub greenhub runtime.
pub fn greenhub_timed<F>(f: F) -> Duration
where
    F: FnOnce() -> Duration + 'static,
{
    greenhub::Runtime::builder()
        .hubs(1)
        .build()
        .expect("valid configuration")
        .run(f)
}

/// Runs a server under test on a one-hub greenhub runtime: binds `addr`, announces the bound
/// address, and hands the listener to `serve`, which serves on the main green thread. Every
/// one-hub greenhub server starts the same way; only what it does with a client differs.
pub fn greenhub_one_hub_server<F>(addr: &str, serve: F) -> io::Result<()>
where
    F: FnOnce(greenhub::net::TcpListener) -> io::Result<()> + 'static,
{
    let addr = addr.to_string();
    greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || -> io::Result<()> {
            let listener = greenhub::net::TcpListener::bind(addr.as_str())?;
            announce(listener.local_addr()?);
            serve(listener)
        })
}

/// Runs `f` in a may coroutine with may configured for one worker.
pub fn may_timed<F>(f: F) -> Duration
where
    F: FnOnce() -> Duration + Send + 'static,
{
    may_one_worker();
    may::go!(f).join().expect("the may coroutine panicked")
}

/// Configures may once per process: one worker thread, as greenhub's one hub.
pub fn may_one_worker() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        may::config().set_workers(1);
    });
}

/// Runs `future` on a tokio `current_thread` runtime.
pub fn tokio_timed<F>(future: F) -> Duration
where
    F: Future<Output = Duration>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}
