//! The stack pool: a burst of green threads gets its stacks back warm, and when the hub next
//! has nothing to do for a while it gives the pages of the surplus back to the kernel.

use std::time::Duration;

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
}

/// Touches `bytes` of this green thread's stack, so that those pages become resident.
#[inline(never)]
fn touch_stack(bytes: usize) -> u8 {
    let mut block = [0u8; 16 * 1024];
    for i in (0..block.len()).step_by(512) {
        block[i] = i as u8;
    }
    let here = std::hint::black_box(&mut block)[7];
    if bytes > block.len() {
        here ^ touch_stack(bytes - block.len())
    } else {
        here
    }
}

#[test]
fn a_burst_leaves_no_resident_stack_memory_once_the_hub_is_idle() {
    let Some(start) = resident_bytes() else {
        eprintln!("skipped: /proc/self/statm is not available, so resident memory cannot be read");
        return;
    };
    const BURST: usize = 4_000;
    const DEPTH: usize = 48 * 1024;
    let (after_burst, after_idle) =
        greenhub::Runtime::builder()
            .hubs(1)
            .build()
            .unwrap()
            .run(|| {
                let gate = std::sync::Arc::new(greenhub::sync::Event::new());
                let burst: Vec<_> = (0..BURST)
                    .map(|_| {
                        let gate = gate.clone();
                        greenhub::spawn(move || {
                            std::hint::black_box(touch_stack(DEPTH));
                            gate.wait(); // all alive at once: none reuses another's stack
                        })
                    })
                    .collect();
                greenhub::yield_now();
                gate.set();
                for green in burst {
                    green.join().unwrap();
                }
                let after_burst = resident_bytes().unwrap();
                // Waiting with nothing to run lets the hub trim, slice by slice.
                greenhub::sleep(Duration::from_millis(300));
                (after_burst, resident_bytes().unwrap())
            });
    let burst_growth = after_burst.saturating_sub(start);
    assert!(
        burst_growth > (BURST * DEPTH / 2) as u64,
        "the burst should have made its stacks resident: grew {burst_growth} bytes"
    );
    let released = after_burst.saturating_sub(after_idle);
    assert!(
        released > burst_growth / 2,
        "an idle hub should release the surplus stacks' pages: {released} of {burst_growth} bytes released"
    );
}
