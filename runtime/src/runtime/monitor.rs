//! The blocking detector: a green thread that runs too long without parking starves everyone
//! on its hub (gevent's monitor thread finds these). Off by default; turn it on with
//! `Runtime::builder().blocking_detector(threshold)` or `GREENHUB_BLOCKING_DETECTOR_MS=50`.

use crate::hub::RuntimeShared;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that turns the detector on, in milliseconds.
pub(crate) const ENV: &str = "GREENHUB_BLOCKING_DETECTOR_MS";

/// Reads the threshold from the environment, if set to a positive number of milliseconds.
pub(crate) fn threshold_from_env() -> Option<Duration> {
    let ms: u64 = std::env::var(ENV).ok()?.trim().parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// Watches every hub until the runtime shuts down; reports each stall once on stderr.
pub(crate) fn watch(runtime: Arc<RuntimeShared>, threshold: Duration) {
    let period = (threshold / 4).max(Duration::from_millis(1));
    let mut reported: Vec<Option<(u64, std::time::Instant)>> = vec![None; runtime.hubs.len()];
    loop {
        std::thread::sleep(period);
        let Some(first) = runtime.hubs.first() else {
            return;
        };
        if first.liveness.shutdown.load(Ordering::SeqCst) {
            return;
        }
        for (hub, last) in runtime.hubs.iter().zip(reported.iter_mut()) {
            let running = hub.running();
            let Some((task, since)) = running else {
                continue;
            };
            let key = (task.id(), since);
            if since.elapsed() >= threshold && *last != Some(key) {
                *last = Some(key);
                eprintln!(
                    "greenhub: blocking detector: green thread '{}' (id {}) on hub {} has run for {} ms \
                     without parking; move blocking work into greenhub::unblock",
                    task.name().unwrap_or("<unnamed>"),
                    task.id(),
                    hub.index,
                    since.elapsed().as_millis()
                );
            }
        }
    }
}
