//! An idle hub sleeps in the poller: no periodic wake-ups, no CPU. This file holds a single test
//! so that no other test shares the process whose CPU time it measures.

use std::time::Duration;

#[test]
fn an_idle_hub_uses_no_cpu() {
    fn cpu_time() -> Duration {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
        Duration::from_millis(ticks * 10)
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("skipped: no /proc/self/stat to read CPU time from on this system");
        return;
    }
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    let used = rt.run(|| {
        greenhub::sleep(Duration::from_millis(50)); // let both hubs settle
        let before = cpu_time();
        greenhub::sleep(Duration::from_millis(500));
        cpu_time() - before
    });
    // Two hubs busy-polling for 500 ms would burn up to a second of CPU; sleeping ones burn ~0.
    assert!(
        used < Duration::from_millis(100),
        "idle hubs used {used:?} of CPU in 500 ms"
    );
}
