//! The runtime at its edges: a panic that escapes a green thread's root, green threads that
//! unwind through destructors that park, and a shutdown whose destructors wait for each other
//! across hubs. Each test is named after what broke; the findings are those of the soundness
//! review (issue 11). Scenarios that abort, or used to corrupt memory, run in a child process.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHILD_DEADLINE: Duration = Duration::from_secs(30);

/// Finding 2: a detached result whose destructor panics used to unwind out of the green
/// thread's root into the hub, which then dropped suspended coroutines after their headers
/// (a use-after-free). Now it aborts, as std does for a thread result, naming the green thread.
#[test]
fn a_detached_result_that_panics_on_drop_aborts_naming_the_green_thread() {
    const TEST: &str = "a_detached_result_that_panics_on_drop_aborts_naming_the_green_thread";
    if common::is_child(TEST) {
        struct PanicsOnDrop;
        impl Drop for PanicsOnDrop {
            fn drop(&mut self) {
                panic!("the result's destructor panicked");
            }
        }
        greenhub::run(|| {
            // A neighbour suspended on the same hub: the one whose memory used to be read.
            let _neighbour = greenhub::spawn(|| greenhub::sleep(Duration::from_secs(60)));
            let dropper = greenhub::Builder::new()
                .name("dropper".into())
                .spawn(|| PanicsOnDrop)
                .unwrap();
            drop(dropper);
            greenhub::sleep(Duration::from_millis(50));
        });
        unreachable!("the escaped panic must abort the process");
    }
    let outcome = common::run_child(TEST, CHILD_DEADLINE, |_| {});
    assert_eq!(outcome.signal(), Some(libc::SIGABRT), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("green thread 'dropper'")
            && outcome.stderr.contains("the result's destructor panicked"),
        "{}",
        outcome.stderr
    );
}

/// Finding 2: the report of an unjoined panic used `eprintln!`, which panics when stderr is a
/// closed pipe (EPIPE), and that panic escaped the green thread's root.
#[test]
fn an_unjoined_panic_reported_to_a_closed_stderr_does_not_crash() {
    const TEST: &str = "an_unjoined_panic_reported_to_a_closed_stderr_does_not_crash";
    common::scenario_in_child(
        TEST,
        |command| {
            // A pipe whose reading end is closed at once: every write to it fails with EPIPE.
            let mut ends = [0; 2];
            // SAFETY: pipe writes two new descriptors into `ends`.
            assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
            // SAFETY: both descriptors were just created and are owned here, once each.
            let (reader, writer) =
                unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
            drop(reader);
            command.stderr(Stdio::from(writer));
        },
        || {
            greenhub::run(|| {
                let _neighbour = greenhub::spawn(|| greenhub::sleep(Duration::from_secs(60)));
                greenhub::sleep(Duration::from_millis(100)); // the parent closes our stderr
                drop(
                    greenhub::Builder::new()
                        .name("lonely".into())
                        .spawn(|| panic!("nobody saw me")),
                );
                greenhub::sleep(Duration::from_millis(20));
            });
        },
    );
}

/// Finding 2: a closure cancelled before it started was dropped outside any `catch_unwind`, so
/// a destructor that panicked there escaped the root. It is that green thread's panic now.
#[test]
fn a_closure_whose_destructor_panics_when_cancelled_before_start_is_a_panic_of_its_green_thread() {
    const TEST: &str =
        "a_closure_whose_destructor_panics_when_cancelled_before_start_is_a_panic_of_its_green_thread";
    common::scenario_in_child(
        TEST,
        |_| {},
        || {
            struct PanicsOnDrop;
            impl Drop for PanicsOnDrop {
                fn drop(&mut self) {
                    panic!("the closure's destructor panicked");
                }
            }
            greenhub::run(|| {
                let captured = PanicsOnDrop;
                let never_runs = greenhub::spawn(move || drop(captured));
                never_runs.cancel();
                let err = never_runs.join().unwrap_err();
                assert!(err.is_panic(), "{err}");
            });
        },
    );
}

/// A destructor that waits for a message while its green thread is cancelled: the green thread
/// stays suspended in the middle of its unwind until the message comes.
struct WaitsWhileUnwinding(greenhub::sync::Receiver<()>);

impl Drop for WaitsWhileUnwinding {
    fn drop(&mut self) {
        let _ = self.0.recv();
    }
}

/// Starts a green thread and cancels it so that it is suspended mid-unwind until the returned
/// sender is dropped.
fn neighbour_suspended_mid_unwind() -> (greenhub::JoinHandle<()>, greenhub::sync::Sender<()>) {
    let (release, released) = greenhub::sync::channel();
    let unwinding = greenhub::spawn(move || {
        let _waits = WaitsWhileUnwinding(released);
        loop {
            greenhub::park();
        }
    });
    greenhub::yield_now();
    unwinding.cancel();
    greenhub::yield_now(); // it unwinds into the destructor and parks there
    (unwinding, release)
}

/// Finding 4: "unwinding" was read from `std::thread::panicking()`, which is per OS thread, so
/// while one green thread was suspended mid-unwind every other green thread of its hub ignored
/// its `timeout` (and the timer that should have ended it was consumed and lost).
#[test]
fn a_timeout_fires_while_a_neighbour_is_suspended_mid_unwind() {
    within_deadline(|| {
        let (neighbour, release) = neighbour_suspended_mid_unwind();
        assert!(
            std::thread::panicking(),
            "the neighbour is suspended mid-unwind"
        );
        let slept = greenhub::timeout(Duration::from_millis(20), || {
            greenhub::sleep(Duration::from_millis(300))
        });
        assert!(slept.is_err(), "the timeout did not fire");
        drop(release);
        assert!(neighbour.join().unwrap_err().is_cancelled());
    });
}

/// Runs a scenario in a runtime on its own thread, failing (rather than hanging) if it hangs.
fn within_deadline(scenario: impl FnOnce() + Send + 'static) {
    let finished = common::within(Duration::from_secs(20), move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| greenhub::run(scenario)))
    });
    match finished {
        None => panic!("the scenario hung"),
        Some(Err(payload)) => std::panic::resume_unwind(payload),
        Some(Ok(())) => {}
    }
}

/// Finding 4, for cancellation.
#[test]
fn a_cancel_takes_effect_while_a_neighbour_is_suspended_mid_unwind() {
    within_deadline(|| {
        let (neighbour, release) = neighbour_suspended_mid_unwind();
        let parked = greenhub::spawn(|| loop {
            greenhub::park();
        });
        greenhub::yield_now();
        parked.cancel();
        let joined = greenhub::timeout(Duration::from_millis(200), || parked.join());
        assert!(
            joined.is_ok_and(|j| j.is_err_and(|e| e.is_cancelled())),
            "the cancel was ignored"
        );
        drop(release);
        assert!(neighbour.join().unwrap_err().is_cancelled());
    });
}

/// Finding 4, the other way round: the green thread that unwinds is still not interrupted
/// again while its destructor parks, even with its own scope expired.
#[test]
fn a_destructor_that_parks_while_unwinding_is_not_interrupted_again() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    greenhub::run(move || {
        struct SleepsThenFlags(Arc<AtomicBool>);
        impl Drop for SleepsThenFlags {
            fn drop(&mut self) {
                greenhub::sleep(Duration::from_millis(30));
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let outcome = greenhub::timeout(Duration::from_millis(5), || {
            let _guard = SleepsThenFlags(flag);
            greenhub::sleep(Duration::from_secs(5));
        });
        assert!(outcome.is_err());
    });
    assert!(
        finished.load(Ordering::SeqCst),
        "the destructor was cut short"
    );
}

/// Finding 14: at shutdown a hub gave up green threads as soon as it had nothing to run itself,
/// even when their destructors waited for another hub that was still unwinding.
#[test]
fn a_destructor_waiting_for_another_hub_at_shutdown_completes() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(move || {
        let (tx, rx) = greenhub::sync::channel::<()>();
        struct SendsLater(greenhub::sync::Sender<()>);
        impl Drop for SendsLater {
            fn drop(&mut self) {
                greenhub::sleep(Duration::from_millis(50));
                let _ = self.0.send(());
            }
        }
        drop(greenhub::spawn_on(1, move || {
            let _later = SendsLater(tx);
            greenhub::sleep(Duration::from_secs(3600));
        }));
        struct WaitsFor(greenhub::sync::Receiver<()>, Arc<AtomicBool>);
        impl Drop for WaitsFor {
            fn drop(&mut self) {
                if self.0.recv().is_ok() {
                    self.1.store(true, Ordering::SeqCst);
                }
            }
        }
        drop(greenhub::spawn(move || {
            let _waits = WaitsFor(rx, flag);
            greenhub::sleep(Duration::from_secs(3600));
        }));
        greenhub::sleep(Duration::from_millis(10));
    });
    assert!(
        finished.load(Ordering::SeqCst),
        "hub 0 gave up a destructor that hub 1 was about to satisfy"
    );
}

/// Finding 14: a hub with nothing left stopped reading its queue at once, so a `spawn_on` from
/// a destructor still running elsewhere was dropped without completing its join.
#[test]
fn a_spawn_on_during_shutdown_is_joined_as_cancelled() {
    let outcome: Arc<Mutex<Option<bool>>> = Arc::default();
    let seen = outcome.clone();
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    let ran = common::within(Duration::from_secs(20), move || {
        rt.run(move || {
            struct SpawnsLater(Arc<Mutex<Option<bool>>>);
            impl Drop for SpawnsLater {
                fn drop(&mut self) {
                    greenhub::sleep(Duration::from_millis(50)); // hub 1 has been idle a while
                    let joined = greenhub::spawn_on(1, || 7).join();
                    *self.0.lock().unwrap() = Some(joined.is_err_and(|e| e.is_cancelled()));
                }
            }
            drop(greenhub::spawn(move || {
                let _later = SpawnsLater(seen);
                greenhub::sleep(Duration::from_secs(3600));
            }));
            greenhub::sleep(Duration::from_millis(10));
        })
    });
    assert!(ran.is_some(), "the runtime never stopped");
    assert_eq!(
        *outcome.lock().unwrap(),
        Some(true),
        "the join of a spawn_on made during shutdown never returned"
    );
}

/// Whatever still waits once every hub is idle is given up: its join reports "cancelled", from
/// an OS thread too, and `run` returns.
#[test]
fn a_destructor_that_can_never_finish_is_given_up_and_its_join_returns() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let ran = common::within(Duration::from_secs(20), move || {
        rt.run(move || {
            struct WaitsForever;
            impl Drop for WaitsForever {
                fn drop(&mut self) {
                    let (_tx, rx) = greenhub::sync::channel::<()>();
                    let _ = rx.recv();
                }
            }
            let stuck = greenhub::spawn_on(1, || {
                let _forever = WaitsForever;
                greenhub::sleep(Duration::from_secs(3600));
            });
            handle_tx.send(stuck).unwrap();
            greenhub::sleep(Duration::from_millis(10));
        })
    });
    assert!(ran.is_some(), "the runtime never stopped");
    let stuck = handle_rx.recv().unwrap();
    let joined = common::within(Duration::from_secs(5), move || stuck.join());
    assert!(
        joined.is_some_and(|j| j.is_err_and(|e| e.is_cancelled())),
        "the join of a green thread given up at shutdown never returned"
    );
}

/// A green thread given up while it waits for a mutex that outlives its runtime (a `static`)
/// never leaves the mutex's waiter list; the unlock that would have woken it goes to the next
/// waiter, in a later runtime, instead of being lost with it.
#[test]
fn a_waiter_given_up_with_its_runtime_does_not_swallow_the_next_unlock() {
    static SHARED: std::sync::LazyLock<greenhub::sync::Mutex<u32>> =
        std::sync::LazyLock::new(|| greenhub::sync::Mutex::new(0));
    let held = SHARED.lock(); // by this OS thread, for now
    let first = common::within(Duration::from_secs(20), || {
        greenhub::Runtime::builder()
            .hubs(1)
            .build()
            .unwrap()
            .run(|| {
                struct LocksOnDrop;
                impl Drop for LocksOnDrop {
                    fn drop(&mut self) {
                        // Runs during the shutdown's cancel: an unwinding green thread's wait is
                        // not interrupted, so it is given up here, still on the mutex's list.
                        *SHARED.lock() += 1;
                    }
                }
                greenhub::spawn(|| {
                    let _locks = LocksOnDrop;
                    greenhub::sleep(Duration::from_secs(3600));
                });
                greenhub::sleep(Duration::from_millis(10));
            })
    });
    assert!(first.is_some(), "the first runtime never stopped");
    let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        greenhub::Runtime::builder()
            .hubs(1)
            .build()
            .unwrap()
            .run(move || {
                let waiter = greenhub::spawn(|| *SHARED.lock() += 10);
                greenhub::sleep(Duration::from_millis(20)); // it is queued behind the given-up one
                waiting_tx.send(()).unwrap();
                waiter.join().unwrap();
            });
        let _ = done_tx.send(());
    });
    waiting_rx.recv().unwrap();
    drop(held);
    assert!(
        done_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "the unlock went to the green thread given up with the first runtime"
    );
    assert_eq!(*SHARED.lock(), 10);
}
