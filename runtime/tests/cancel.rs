//! Cancelling green threads: destructors run, and a green thread cancelled before it starts
//! never runs.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Counts its drops, to prove destructors ran.
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn cancel_before_start_never_runs_but_drops_the_closure() {
    greenhub::run(|| {
        let drops = Rc::new(Cell::new(0));
        let ran = Rc::new(Cell::new(false));
        let (guard, flag) = (DropCounter(drops.clone()), ran.clone());
        let handle = greenhub::spawn(move || {
            let _guard = guard;
            flag.set(true);
        });
        handle.cancel();
        let err = handle.join().unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.to_string(), "green thread was cancelled");
        assert!(!ran.get(), "a green thread cancelled before it started ran");
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn cancel_while_sleeping_or_parked_runs_destructors() {
    greenhub::run(|| {
        let drops = Rc::new(Cell::new(0));
        let guard = DropCounter(drops.clone());
        let sleeper = greenhub::spawn(move || {
            let _guard = guard;
            greenhub::sleep(Duration::from_secs(3600));
        });
        let guard = DropCounter(drops.clone());
        let parker = greenhub::spawn(move || {
            let _guard = guard;
            loop {
                greenhub::park();
            }
        });
        greenhub::sleep(Duration::from_millis(5));
        sleeper.cancel();
        parker.cancel();
        assert!(sleeper.join().unwrap_err().is_cancelled());
        assert!(parker.join().unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 2);
    });
}

#[test]
fn a_cancelled_green_thread_cannot_swallow_cancellation() {
    greenhub::run(|| {
        let stubborn = greenhub::spawn(|| {
            let caught = std::panic::catch_unwind(|| greenhub::sleep(Duration::from_secs(3600)));
            assert!(caught.is_err(), "the first park point unwinds");
            // Catching the unwind only delays it: the next park point cancels again.
            greenhub::yield_now();
            "escaped"
        });
        greenhub::yield_now();
        stubborn.cancel();
        assert!(stubborn.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn cancel_from_another_hub_and_from_a_plain_thread() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let far = greenhub::spawn_on(1, || greenhub::sleep(Duration::from_secs(3600)));
        greenhub::sleep(Duration::from_millis(5));
        far.cancel();
        assert!(far.join().unwrap_err().is_cancelled());

        let local = std::sync::Arc::new(greenhub::spawn_on(1, || loop {
            greenhub::park();
        }));
        let remote = local.clone();
        std::thread::spawn(move || remote.cancel()).join().unwrap();
        let local = std::sync::Arc::into_inner(local).unwrap();
        assert!(local.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn cancelling_a_finished_green_thread_does_nothing() {
    greenhub::run(|| {
        let done = greenhub::spawn(|| 3);
        greenhub::yield_now();
        done.cancel();
        assert_eq!(done.join().unwrap(), 3);
    });
}

#[test]
fn when_main_returns_the_rest_are_cancelled_and_their_destructors_run() {
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    struct SendCounter(std::sync::Arc<std::sync::atomic::AtomicU32>);
    impl Drop for SendCounter {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    let counted = drops.clone();
    rt.run(move || {
        for hub in 0..2 {
            for _ in 0..10 {
                let guard = SendCounter(counted.clone());
                drop(greenhub::spawn_on(hub, move || {
                    let _guard = guard;
                    greenhub::sleep(Duration::from_secs(3600));
                }));
            }
        }
        greenhub::sleep(Duration::from_millis(10));
    });
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 20);
}

#[test]
fn a_destructor_that_sleeps_during_cancellation_still_completes() {
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    struct SlowDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            greenhub::sleep(Duration::from_millis(5));
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let flag = finished.clone();
    greenhub::run(move || {
        let handle = greenhub::spawn(move || {
            let _slow = SlowDrop(flag);
            greenhub::sleep(Duration::from_secs(3600));
        });
        greenhub::yield_now();
        handle.cancel();
        assert!(handle.join().unwrap_err().is_cancelled());
    });
    assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
}
