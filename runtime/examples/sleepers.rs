//! Ten thousand green threads sleeping at once on one hub, each written as plain sequential code,
//! while the main green thread reports progress. Run it with
//! `cargo run --release -p greenhub --example sleepers`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn main() {
    let rt = greenhub::Runtime::builder()
        .hubs(1)
        .build()
        .expect("a valid runtime");
    rt.run(|| {
        let start = Instant::now();
        let woken = Rc::new(Cell::new(0u32));
        let sleepers: Vec<_> = (0..10_000u64)
            .map(|i| {
                let woken = woken.clone();
                greenhub::spawn(move || {
                    // Each green thread naps three times, for 100 to 400 ms.
                    for nap in 0..3 {
                        greenhub::sleep(Duration::from_millis(100 + (i * 7 + nap * 31) % 300));
                    }
                    woken.set(woken.get() + 1);
                })
            })
            .collect();
        while woken.get() < 10_000 {
            println!(
                "{:>6} ms: {:>5} of 10000 green threads done",
                start.elapsed().as_millis(),
                woken.get()
            );
            greenhub::sleep(Duration::from_millis(200));
        }
        for sleeper in sleepers {
            sleeper.join().expect("a sleeper panicked");
        }
        println!(
            "{:>6} ms: all 10000 green threads slept three times each, on one OS thread",
            start.elapsed().as_millis()
        );
    });
}
