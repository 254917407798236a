//! Green threads that unwind: what a destructor running during an unwind may still do, and how
//! the per-green-thread unwinding count holds up next to std's per-OS-thread one. Found by an
//! adversarial review of the soundness work (issue 11); scenarios that used to abort run in a
//! child process, those that used to hang under a deadline.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs a scenario in a runtime on a fresh OS thread (whose panic count cannot leak into the
/// test harness), failing rather than hanging if it hangs.
fn on_a_fresh_thread<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let finished = common::within(Duration::from_secs(20), move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario))
    });
    match finished {
        None => panic!("the scenario hung"),
        Some(Err(payload)) => std::panic::resume_unwind(payload),
        Some(Ok(value)) => value,
    }
}

/// A destructor that waits on an event while its green thread unwinds.
struct WaitsFor(Arc<greenhub::sync::Event>);

impl Drop for WaitsFor {
    fn drop(&mut self) {
        self.0.wait();
    }
}

/// Starts a green thread and cancels it so that it is suspended mid-unwind until the event is
/// set.
fn suspended_mid_unwind() -> (greenhub::JoinHandle<()>, Arc<greenhub::sync::Event>) {
    let release = Arc::new(greenhub::sync::Event::new());
    let waits = WaitsFor(release.clone());
    let unwinding = greenhub::spawn(move || {
        let _waits = waits;
        greenhub::sleep(Duration::from_secs(3600));
    });
    greenhub::yield_now();
    unwinding.cancel();
    greenhub::yield_now();
    (unwinding, release)
}

/// A green thread given up at shutdown while suspended mid-unwind leaves std's panic count of
/// its OS thread raised for good. The next runtime on that thread used to take that for its
/// own green threads unwinding: timeouts and cancels were ignored and shutdown hung.
#[test]
fn a_runtime_after_one_that_gave_up_an_unwinding_green_thread_still_times_out_and_stops() {
    let (slept, stopped) = on_a_fresh_thread(|| {
        let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
        rt.run(|| {
            let (tx, rx) = greenhub::sync::channel::<()>();
            std::mem::forget(tx); // nothing will ever send
            struct WaitsForever(greenhub::sync::Receiver<()>);
            impl Drop for WaitsForever {
                fn drop(&mut self) {
                    let _ = self.0.recv();
                }
            }
            drop(greenhub::spawn(move || {
                let _forever = WaitsForever(rx);
                greenhub::sleep(Duration::from_secs(3600));
            }));
            greenhub::yield_now();
        });
        assert!(
            std::thread::panicking(),
            "the given-up unwind stays counted"
        );
        let slept = rt.run(|| {
            greenhub::timeout(Duration::from_millis(20), || {
                greenhub::sleep(Duration::from_secs(5))
            })
        });
        rt.run(|| {
            drop(greenhub::spawn(|| loop {
                greenhub::sleep(Duration::from_millis(5));
            }));
            greenhub::sleep(Duration::from_millis(10));
        });
        (slept, true)
    });
    assert!(slept.is_err(), "the timeout did not fire");
    assert!(stopped);
}

/// A green thread that caught a panic of its own (`catch_unwind`) while a neighbour was
/// suspended mid-unwind kept counting itself as unwinding: its `timeout`s never fired, and the
/// timer spent meanwhile was lost for good. Now the interruption comes, at the latest once the
/// neighbour's unwind is over.
#[test]
fn a_green_thread_that_caught_its_own_panic_is_interrupted_again() {
    on_a_fresh_thread(|| {
        greenhub::run(|| {
            let (neighbour, release) = suspended_mid_unwind();
            let caught = greenhub::spawn(|| {
                let caught = std::panic::catch_unwind(|| panic!("caught on purpose"));
                assert!(caught.is_err());
                let (_tx, rx) = greenhub::sync::channel::<()>();
                greenhub::timeout(Duration::from_millis(20), || rx.recv())
            });
            greenhub::sleep(Duration::from_millis(100));
            release.set();
            let outcome = caught.join().unwrap();
            assert!(outcome.is_err(), "the timeout never fired");
            assert!(neighbour.join().unwrap_err().is_cancelled());
        })
    });
}

/// A panic continued with `JoinError::resume_unwind` is one greenhub knows of: a destructor on
/// its way that parks, with a cancel pending, while a neighbour is suspended mid-unwind, parks
/// normally (an interruption there would abort the process).
#[test]
fn a_panic_continued_with_resume_unwind_parks_normally_in_its_destructors() {
    const TEST: &str = "a_panic_continued_with_resume_unwind_parks_normally_in_its_destructors";
    common::scenario_in_child(
        TEST,
        |_| {},
        || {
            greenhub::run(|| {
                let (neighbour, release) = suspended_mid_unwind();
                let lock = Arc::new(greenhub::sync::Mutex::new(0));
                let held = lock.lock();
                struct LocksOnDrop(Arc<greenhub::sync::Mutex<u32>>);
                impl Drop for LocksOnDrop {
                    fn drop(&mut self) {
                        *self.0.lock() += 1;
                    }
                }
                let guard = LocksOnDrop(lock.clone());
                let continues = greenhub::spawn(move || {
                    let _guard = guard;
                    let failed = greenhub::spawn(|| -> () { panic!("worker failed") }).join();
                    failed.unwrap_err().resume_unwind();
                });
                greenhub::yield_now(); // its destructor parks on the lock
                continues.cancel();
                greenhub::yield_now();
                drop(held);
                assert!(continues.join().unwrap_err().is_panic());
                assert_eq!(*lock.lock(), 1);
                release.set();
                assert!(neighbour.join().unwrap_err().is_cancelled());
            });
        },
    );
}

/// A `timeout` opened inside a destructor that runs during cancellation used to be ignored
/// with every other interruption, so the destructor's wait could last forever.
#[test]
fn a_timeout_inside_a_destructor_running_during_cancellation_fires() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    on_a_fresh_thread(move || {
        greenhub::run(move || {
            struct WaitsBriefly(Arc<AtomicBool>);
            impl Drop for WaitsBriefly {
                fn drop(&mut self) {
                    let (_tx, rx) = greenhub::sync::channel::<()>();
                    let waited = greenhub::timeout(Duration::from_millis(20), || rx.recv());
                    self.0.store(waited.is_err(), Ordering::SeqCst);
                }
            }
            let handler = greenhub::spawn(move || {
                let _brief = WaitsBriefly(flag);
                greenhub::sleep(Duration::from_secs(3600));
            });
            greenhub::yield_now();
            handler.cancel();
            assert!(handler.join().unwrap_err().is_cancelled());
        })
    });
    assert!(
        finished.load(Ordering::SeqCst),
        "the destructor's timeout never fired"
    );
}

/// A detached green thread's result is dropped at its root; if that destructor parked while
/// the runtime shut down, the shutdown's cancel unwound out of it and the process aborted.
#[test]
fn a_detached_result_whose_destructor_parks_survives_shutdown() {
    const TEST: &str = "a_detached_result_whose_destructor_parks_survives_shutdown";
    common::scenario_in_child(
        TEST,
        |_| {},
        || {
            let dropped = Arc::new(AtomicBool::new(false));
            let flag = dropped.clone();
            greenhub::run(move || {
                let busy = Arc::new(greenhub::sync::Mutex::new(()));
                struct ReportsOnDrop(Arc<greenhub::sync::Mutex<()>>, Arc<AtomicBool>);
                impl Drop for ReportsOnDrop {
                    fn drop(&mut self) {
                        let _busy = self.0.lock(); // parks while main holds it
                        self.1.store(true, Ordering::SeqCst);
                    }
                }
                let holder = busy.clone();
                drop(greenhub::spawn(move || {
                    // Lets go of the lock a while after the shutdown cancelled it.
                    struct ReleasesLater<'a>(Option<greenhub::sync::MutexGuard<'a, ()>>);
                    impl Drop for ReleasesLater<'_> {
                        fn drop(&mut self) {
                            greenhub::sleep(Duration::from_millis(20));
                            self.0.take();
                        }
                    }
                    let _held = ReleasesLater(Some(holder.lock()));
                    greenhub::sleep(Duration::from_secs(3600)); // until shutdown cancels it
                }));
                greenhub::yield_now(); // the lock is held now
                let result = ReportsOnDrop(busy.clone(), flag);
                drop(greenhub::spawn(move || result));
                greenhub::yield_now(); // its result's destructor parks on the lock
                                       // Main returns: the shutdown cancels everything still running.
            });
            assert!(
                dropped.load(Ordering::SeqCst),
                "the result's destructor was cut short"
            );
        },
    );
}

/// A green thread that caught its own panic next to a neighbour suspended mid-unwind, and was
/// then cancelled while it slept, was counted as unwinding itself: its cancel stayed deferred
/// after the neighbour's unwind ended (second review).
#[test]
fn a_deferred_cancel_acts_once_the_neighbour_is_done_unwinding() {
    on_a_fresh_thread(|| {
        greenhub::run(|| {
            let (neighbour, release) = suspended_mid_unwind();
            let caught = greenhub::spawn(|| {
                let _ = std::panic::catch_unwind(|| panic!("caught on purpose"));
                greenhub::sleep(Duration::from_secs(3600));
            });
            greenhub::yield_now();
            caught.cancel();
            greenhub::sleep(Duration::from_millis(20));
            release.set();
            assert!(neighbour.join().unwrap_err().is_cancelled());
            let joined = greenhub::timeout(Duration::from_secs(5), || caught.join());
            assert!(
                joined.is_ok_and(|j| j.is_err_and(|e| e.is_cancelled())),
                "the cancel was never acted on"
            );
        })
    });
}

/// The count of green threads suspended mid-unwind drifted when one that had caught a panic
/// earlier ran again, and a neighbour's `timeout` was then lost (second review).
#[test]
fn a_caught_panic_elsewhere_does_not_cost_a_neighbour_its_timeout() {
    on_a_fresh_thread(|| {
        greenhub::run(|| {
            let caught_earlier = greenhub::spawn(|| {
                let _ = std::panic::catch_unwind(|| panic!("caught on purpose"));
                greenhub::sleep(Duration::from_millis(10));
            });
            let (_tx, rx) = greenhub::sync::channel::<()>();
            let waits = greenhub::spawn(move || {
                greenhub::timeout(Duration::from_millis(50), || rx.recv()).is_err()
            });
            greenhub::yield_now();
            let (neighbour, release) = suspended_mid_unwind();
            greenhub::sleep(Duration::from_millis(200)); // the 50 ms deadline passes meanwhile
            let timed_out = waits.is_finished();
            release.set();
            assert!(neighbour.join().unwrap_err().is_cancelled());
            caught_earlier.join().unwrap();
            assert!(
                timed_out,
                "the timeout had not fired while the neighbour unwound"
            );
            assert!(waits.join().unwrap());
        })
    });
}

/// A scope opened while the green thread's unwinding was in doubt recorded that doubtful depth,
/// and later ended a wait inside a destructor running during a real unwind: the process aborted
/// (second review).
#[test]
fn a_scope_opened_in_doubt_never_interrupts_a_destructor_during_an_unwind() {
    const TEST: &str = "a_scope_opened_in_doubt_never_interrupts_a_destructor_during_an_unwind";
    common::scenario_in_child(
        TEST,
        |_| {},
        || {
            greenhub::run(|| {
                let (neighbour, release) = suspended_mid_unwind();
                struct ParksOnDrop;
                impl Drop for ParksOnDrop {
                    fn drop(&mut self) {
                        greenhub::sleep(Duration::from_millis(100));
                    }
                }
                let panics = greenhub::spawn(|| {
                    let _ = std::panic::catch_unwind(|| panic!("caught on purpose"));
                    let _ = greenhub::timeout(Duration::from_millis(50), || {
                        greenhub::sleep(Duration::from_millis(20)); // the neighbour finishes meanwhile
                        let _ = greenhub::timeout(Duration::from_secs(10), || ());
                        let _parks = ParksOnDrop;
                        panic!("a real panic inside the scope");
                    });
                });
                greenhub::sleep(Duration::from_millis(10));
                release.set();
                assert!(neighbour.join().unwrap_err().is_cancelled());
                assert!(panics.join().unwrap_err().is_panic());
            });
        },
    );
}

/// A `timeout` inside the destructor of a detached result never fired (nothing could interrupt
/// a green thread whose function was done), so a result that bounds its cleanup with one could
/// hold up shutdown for good (second review).
#[test]
fn a_timeout_inside_a_detached_results_destructor_fires() {
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    on_a_fresh_thread(move || {
        greenhub::run(move || {
            struct Flushes(Arc<AtomicBool>);
            impl Drop for Flushes {
                fn drop(&mut self) {
                    let waited = greenhub::timeout(Duration::from_millis(30), || loop {
                        greenhub::sleep(Duration::from_millis(5));
                    });
                    self.0.store(waited.is_err(), Ordering::SeqCst);
                }
            }
            drop(greenhub::spawn(move || Flushes(flag)));
            greenhub::sleep(Duration::from_millis(10));
        })
    });
    assert!(timed_out.load(Ordering::SeqCst));
}

/// A runtime run from a destructor while its thread unwinds (a guard that shuts down gracefully
/// when its scope panics) took that outside unwind for its own green threads': the shutdown's
/// cancel was ignored and `run` never returned (third review).
#[test]
fn a_runtime_run_from_a_destructor_during_a_panic_still_stops() {
    let stopped = common::within(Duration::from_secs(20), || {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let panicking = std::thread::spawn(move || {
            struct ShutsDownOnDrop(Arc<AtomicBool>);
            impl Drop for ShutsDownOnDrop {
                fn drop(&mut self) {
                    greenhub::Runtime::builder()
                        .hubs(1)
                        .build()
                        .unwrap()
                        .run(|| {
                            drop(greenhub::spawn(|| loop {
                                greenhub::sleep(Duration::from_millis(5));
                            }));
                            greenhub::sleep(Duration::from_millis(20));
                        });
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let _guard = ShutsDownOnDrop(flag);
            panic!("the scope fails; the guard shuts down");
        });
        assert!(panicking.join().is_err());
        stopped.load(Ordering::SeqCst)
    });
    assert_eq!(stopped, Some(true), "the runtime never stopped");
}
