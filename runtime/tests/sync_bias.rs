//! The state of every `sync` primitive is locked without atomic read-modify-writes once the OS
//! thread that made it has used it alone a few dozen times, and with a mutex once any other thread
//! has (see `sync/state_lock.rs`, whose unit tests check the switch itself). These tests use
//! primitives from their maker first and then from other threads at the same time, so that the
//! switch happens under load, and check that nothing is lost, doubled or reordered.

use greenhub::sync::{bounded, channel, Mutex};
use greenhub::Runtime;
use std::sync::Arc;

const PER_SENDER: u64 = 20_000;

/// Sorts received `(sender, n)` pairs by sender and checks each sender's values arrived once
/// and in order.
fn check_each_sender_in_order(received: &[(u64, u64)], senders: u64) {
    let mut next = vec![0u64; senders as usize];
    for &(sender, n) in received {
        assert_eq!(n, next[sender as usize], "sender {sender} out of order");
        next[sender as usize] += 1;
    }
    assert!(next.iter().all(|&n| n == PER_SENDER), "counts {next:?}");
}

#[test]
fn a_channel_used_on_its_hub_and_then_from_another_hub_loses_nothing() {
    let runtime = Runtime::builder().hubs(2).build().unwrap();
    runtime.run(|| {
        let (tx, rx) = bounded::<(u64, u64)>(64);
        // Sender 0 runs on this hub (the channel's maker) from the start; sender 1 joins from
        // the other hub once the first values have gone through the biased path.
        let local = {
            let tx = tx.clone();
            greenhub::spawn(move || {
                for n in 0..PER_SENDER {
                    tx.send((0, n)).unwrap();
                }
            })
        };
        let first = rx.recv().unwrap();
        let remote = greenhub::spawn_on(1, move || {
            for n in 0..PER_SENDER {
                tx.send((1, n)).unwrap();
            }
        });
        let mut received = vec![first];
        received.extend(rx.iter());
        local.join().unwrap();
        remote.join().unwrap();
        check_each_sender_in_order(&received, 2);
    });
}

#[test]
fn a_mutex_made_by_a_plain_thread_counts_right_from_every_thread() {
    let total = Arc::new(Mutex::new(0u64));
    for _ in 0..PER_SENDER {
        *total.lock() += 1; // the maker alone first
    }
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let total = total.clone();
            std::thread::spawn(move || {
                for _ in 0..PER_SENDER {
                    *total.lock() += 1;
                }
            })
        })
        .collect();
    // The maker counts too, while the others revoke its bias.
    for _ in 0..PER_SENDER {
        *total.lock() += 1;
    }
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*total.lock(), 5 * PER_SENDER);
}

#[test]
fn a_channel_made_in_one_runtime_works_in_a_later_one_on_another_thread() {
    let (tx, rx) = channel::<u64>();
    greenhub::run(move || {
        for n in 0..100 {
            tx.send(n).unwrap();
        }
    });
    let got = std::thread::spawn(move || greenhub::run(move || rx.iter().collect::<Vec<_>>()))
        .join()
        .unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_plain_thread_sends_while_the_channels_hub_blocks_joining_it() {
    // The maker's hub is blocked in a std join (its green threads cannot run) while the plain
    // thread takes the channel over: taking the bias away never waits for the maker's hub.
    greenhub::run(|| {
        let (tx, rx) = channel::<u64>();
        for n in 0..100 {
            tx.send(n).unwrap(); // used by the maker alone first
        }
        let helper = std::thread::spawn(move || {
            for n in 100..1_000 {
                tx.send(n).unwrap();
            }
        });
        helper.join().unwrap();
        assert_eq!(
            rx.iter().collect::<Vec<_>>(),
            (0..1_000).collect::<Vec<_>>()
        );
    });
}
