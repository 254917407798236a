//! An idle hub sleeps in the poller: no periodic wake-ups, no CPU, even just after traffic between
//! hubs (which makes a hub spin briefly before it sleeps). This file holds a single test
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
        // A burst of traffic between the hubs first: a hub that took remote work a moment ago
        // spins briefly before it sleeps, and must then sleep all the same.
        let (to_echo, echo_in) = greenhub::sync::channel::<u32>();
        let (echo_out, from_echo) = greenhub::sync::channel::<u32>();
        let echo = greenhub::spawn_on(1, move || {
            for n in echo_in.iter() {
                echo_out.send(n).unwrap();
            }
        });
        for n in 0..1000 {
            to_echo.send(n).unwrap();
            assert_eq!(from_echo.recv().unwrap(), n);
        }
        drop(to_echo);
        echo.join().unwrap();
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
