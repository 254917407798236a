//! spawn, join, cancel, timeout, channels and Select, in one program. Run with
//! `cargo run -p ch08b-your-own-server --bin basics`.

use greenhub::sync::{bounded, channel, Select};
use std::time::Duration;

fn main() {
    greenhub::run(|| {
        spawn_and_join();
        cancel_and_panic();
        deadlines();
        worker_pool();
        select_loop();
    });
}

// ANCHOR: spawn_join
fn spawn_and_join() {
    let workers: Vec<_> = [50, 10, 30]
        .into_iter()
        .map(|ms| {
            greenhub::spawn(move || {
                greenhub::sleep(Duration::from_millis(ms));
                println!("worker {ms} done");
                ms * 2
            })
        })
        .collect();
    let results: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    println!("results in spawn order: {results:?}");
}
// ANCHOR_END: spawn_join

// ANCHOR: cancel
fn cancel_and_panic() {
    let forever = greenhub::spawn(|| {
        struct SaysGoodbye;
        impl Drop for SaysGoodbye {
            fn drop(&mut self) {
                println!("forever: unwound, destructors ran");
            }
        }
        let _guard = SaysGoodbye;
        loop {
            greenhub::sleep(Duration::from_secs(1));
        }
    });
    greenhub::sleep(Duration::from_millis(10));
    forever.cancel();
    println!("join after cancel: {:?}", forever.join().map(|_| ()));

    let panicky = greenhub::spawn(|| -> u32 { panic!("bad input") });
    match panicky.join() {
        Ok(_) => println!("no panic?"),
        Err(e) => println!("join after a panic: {e}"),
    }
}
// ANCHOR_END: cancel

// ANCHOR: timeout
fn deadlines() {
    let quick = greenhub::timeout(Duration::from_millis(100), || {
        greenhub::sleep(Duration::from_millis(5));
        "quick answer"
    });
    let slow = greenhub::timeout(Duration::from_millis(20), || {
        greenhub::sleep(Duration::from_secs(10));
        "never"
    });
    println!("timeout: {quick:?}, then {slow:?}");
}
// ANCHOR_END: timeout

// ANCHOR: channels
fn worker_pool() {
    let (jobs_tx, jobs) = bounded::<u32>(4); // at most 4 jobs wait; a 5th send parks
    let (results_tx, results) = channel::<(u32, u32)>();
    for worker in 0..2 {
        let (jobs, results_tx) = (jobs.clone(), results_tx.clone());
        greenhub::spawn(move || {
            for n in jobs.iter() {
                greenhub::sleep(Duration::from_millis(u64::from(n)));
                let _ = results_tx.send((worker, n * n));
            }
        });
    }
    drop(results_tx); // the workers hold the only senders left
    for n in [1, 2, 3, 4, 5, 6] {
        jobs_tx.send(n).unwrap();
    }
    drop(jobs_tx); // no more jobs: each worker's `jobs.iter()` ends
    let mut squares: Vec<u32> = results.iter().map(|(_, square)| square).collect();
    squares.sort();
    println!("squares: {squares:?}");
}
// ANCHOR_END: channels

// ANCHOR: select
fn select_loop() {
    let (lines_tx, lines) = channel::<String>();
    let (quit_tx, quit) = channel::<()>();
    greenhub::spawn(move || {
        for word in ["one", "two"] {
            greenhub::sleep(Duration::from_millis(10));
            let _ = lines_tx.send(word.to_string());
        }
        greenhub::sleep(Duration::from_millis(150));
        let _ = quit_tx.send(());
    });
    loop {
        let done = Select::new()
            .recv(&lines, |line| {
                println!("select: line {line:?}");
                false
            })
            .recv(&quit, |_| {
                println!("select: quit");
                true
            })
            .timeout(Duration::from_millis(100), || {
                println!("select: nothing for 100 ms");
                false
            })
            .wait();
        if done {
            break;
        }
    }
}
// ANCHOR_END: select
