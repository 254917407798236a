//! How each peer runtime is started for a measurement: one hub, one worker, one thread.

use std::time::Duration;

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
    F: std::future::Future<Output = Duration>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}
