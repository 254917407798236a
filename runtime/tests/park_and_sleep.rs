//! park/unpark from every kind of caller, and timers that never fire early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn sleep_never_returns_early() {
    greenhub::run(|| {
        let sleepers: Vec<_> = (0..200u64)
            .map(|i| {
                greenhub::spawn(move || {
                    let want = Duration::from_micros(137 * (i % 40));
                    let start = Instant::now();
                    greenhub::sleep(want);
                    start.elapsed() >= want
                })
            })
            .collect();
        // A crowd of spurious wakes must not shorten anyone's sleep.
        let noisy: Vec<_> = sleepers.iter().map(|s| s.thread()).collect();
        for _ in 0..20 {
            noisy.iter().for_each(|t| t.unpark());
            greenhub::yield_now();
        }
        assert!(sleepers.into_iter().all(|s| s.join().unwrap()));
    });
}

#[test]
fn sleep_until_and_park_timeout_wait_at_least_their_time() {
    greenhub::run(|| {
        let deadline = Instant::now() + Duration::from_millis(15);
        greenhub::sleep_until(deadline);
        assert!(Instant::now() >= deadline);

        let start = Instant::now();
        greenhub::park_timeout(Duration::from_millis(15));
        assert!(
            start.elapsed() >= Duration::from_millis(15),
            "nothing unparked us"
        );
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    greenhub::run(|| {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let handles: Vec<_> = [30u64, 10, 20, 0]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                greenhub::spawn(move || {
                    greenhub::sleep(Duration::from_millis(ms));
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*order.borrow(), vec![0, 10, 20, 30]);
    });
}

#[test]
fn an_unpark_before_park_is_kept_as_a_token() {
    greenhub::run(|| {
        let me = greenhub::current();
        me.unpark();
        let start = Instant::now();
        greenhub::park_timeout(Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the token was lost"
        );
    });
}

#[test]
fn unpark_from_a_plain_os_thread() {
    greenhub::run(|| {
        let done = Arc::new(AtomicBool::new(false));
        let (me, flag) = (greenhub::current(), done.clone());
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            flag.store(true, Ordering::SeqCst);
            me.unpark();
        });
        while !done.load(Ordering::SeqCst) {
            greenhub::park();
        }
        thread.join().unwrap();
    });
}

#[test]
fn unpark_from_another_hub() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        for _ in 0..100 {
            let done = Arc::new(AtomicBool::new(false));
            let (me, flag) = (greenhub::current(), done.clone());
            let other = greenhub::spawn_on(1, move || {
                flag.store(true, Ordering::SeqCst);
                me.unpark();
            });
            while !done.load(Ordering::SeqCst) {
                greenhub::park();
            }
            other.join().unwrap();
        }
    });
}

#[test]
fn ping_pong_between_hubs_loses_no_wake() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let turn = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let me = greenhub::current();
        let (theirs, rounds) = (turn.clone(), 2_000);
        let (tx, rx) = std::sync::mpsc::channel();
        let partner = greenhub::spawn_on(1, move || {
            tx.send(greenhub::current()).unwrap();
            for round in 0..rounds {
                while theirs.load(Ordering::SeqCst) != 2 * round + 1 {
                    greenhub::park();
                }
                theirs.store(2 * round + 2, Ordering::SeqCst);
                me.unpark();
            }
        });
        let partner_thread = loop {
            match rx.try_recv() {
                Ok(thread) => break thread,
                Err(_) => greenhub::sleep(Duration::from_millis(1)),
            }
        };
        for round in 0..rounds {
            turn.store(2 * round + 1, Ordering::SeqCst);
            partner_thread.unpark();
            while turn.load(Ordering::SeqCst) != 2 * round + 2 {
                greenhub::park();
            }
        }
        partner.join().unwrap();
    });
}

#[test]
fn outside_a_hub_the_calls_behave_like_std_thread() {
    assert_eq!(greenhub::current_hub(), None);
    let start = Instant::now();
    greenhub::sleep(Duration::from_millis(10));
    assert!(start.elapsed() >= Duration::from_millis(10));
    greenhub::yield_now();
    let start = Instant::now();
    greenhub::park_timeout(Duration::from_millis(10));
    let me = greenhub::current();
    assert_eq!(me.name(), std::thread::current().name());
    let unparker = std::thread::spawn(move || me.unpark());
    greenhub::park(); // returns once unparked (the token may already be there)
    unparker.join().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(5));
    assert_eq!(greenhub::unblock(|| 4), 4);
}
