//! `run` reports a main green thread that nothing can ever wake, instead of hanging.

use std::time::Duration;

fn run_expecting_block_forever(rt: &greenhub::Runtime, f: impl FnOnce() + 'static) {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.run(f)));
    let payload = caught.expect_err("run must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains("would block forever"),
        "unexpected panic: {message}"
    );
}

#[test]
fn parking_with_nothing_that_can_wake_panics() {
    for hubs in [1, 2] {
        let rt = greenhub::Runtime::builder().hubs(hubs).build().unwrap();
        run_expecting_block_forever(&rt, greenhub::park);
    }
}

#[test]
fn joining_a_green_thread_that_parks_forever_panics() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    run_expecting_block_forever(&rt, || {
        let stuck = greenhub::spawn_on(1, || loop {
            greenhub::park();
        });
        let _ = stuck.join();
    });
}

#[test]
fn a_handle_held_by_a_plain_thread_is_not_a_deadlock() {
    greenhub::run(|| {
        let me = greenhub::current();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            me.unpark();
        });
        greenhub::park();
        waker.join().unwrap();
    });
}

#[test]
fn a_handle_dropped_without_unpark_is_then_a_deadlock() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    run_expecting_block_forever(&rt, || {
        let me = greenhub::current();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(me);
        });
        loop {
            greenhub::park();
        }
    });
}

#[test]
fn waiting_on_a_timer_or_blocking_work_is_not_a_deadlock() {
    greenhub::run(|| {
        greenhub::sleep(Duration::from_millis(20));
        greenhub::unblock(|| std::thread::sleep(Duration::from_millis(20)));
    });
}

/// A green thread waiting in a `sync` primitive may be woken by any holder of it, a plain
/// thread included: with every hub idle that is still no deadlock, on the waiter's hub or
/// another, for a channel, a mutex and a condition variable alike.
#[test]
fn waiting_on_a_primitive_a_plain_thread_holds_is_not_a_deadlock() {
    for hubs in [1, 2] {
        let rt = greenhub::Runtime::builder().hubs(hubs).build().unwrap();
        rt.run(move || {
            let (tx, rx) = greenhub::sync::channel::<u32>();
            let lock = std::sync::Arc::new(greenhub::sync::Mutex::new(false));
            let ready = std::sync::Arc::new(greenhub::sync::Condvar::new());
            let (their_lock, their_ready) = (lock.clone(), ready.clone());
            let plain = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                tx.send(7).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                *their_lock.lock() = true;
                their_ready.notify_all();
            });
            let waiter = greenhub::spawn_on(hubs - 1, move || {
                let value = rx.recv().unwrap();
                let mut done = lock.lock();
                while !*done {
                    done = ready.wait(done);
                }
                value
            });
            assert_eq!(waiter.join().unwrap(), 7);
            plain.join().unwrap();
        });
    }
}

/// A green thread cancelled (or timed out) while parked in a wait list stops counting as
/// "may be woken from outside": afterwards a main green thread that nothing can wake is still
/// reported, not left hanging.
#[test]
fn a_wait_cut_short_no_longer_counts_against_the_deadlock_check() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
        run_expecting_block_forever(&rt, || {
            let (tx, rx) = greenhub::sync::channel::<u32>();
            let cancelled = greenhub::spawn_on(1, move || rx.recv());
            let timed_out = greenhub::spawn(|| {
                let (_sender, rx) = greenhub::sync::channel::<u32>();
                greenhub::timeout(Duration::from_millis(20), || rx.recv())
            });
            greenhub::sleep(Duration::from_millis(5)); // both park in recv
            cancelled.cancel();
            assert!(cancelled.join().unwrap_err().is_cancelled());
            assert!(timed_out.join().unwrap().is_err(), "the receive timed out");
            drop(tx);
            loop {
                greenhub::park();
            }
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the runtime hung instead of reporting a green thread that nothing can wake");
}
