//! greenhub::sync: channels, Event, Semaphore, Mutex, Condvar, WaitGroup, on one hub, across
//! hubs and from plain OS threads; and the shared timing template for every timed wait.

use greenhub::sync::{
    self, Condvar, Event, Mutex, RecvTimeoutError, Semaphore, TryRecvError, TrySendError, WaitGroup,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_millis(30);

/// The timing template: a timed wait that nothing satisfies returns "timed out" after about
/// `WAIT`, never earlier (and within a generous bound later, on a noisy machine).
fn returns_about_on_time(what: &str, timed_wait: impl FnOnce(Duration) -> bool) {
    let start = Instant::now();
    let satisfied = timed_wait(WAIT);
    let took = start.elapsed();
    assert!(!satisfied, "{what}: nothing should have satisfied the wait");
    assert!(took >= WAIT, "{what}: returned early, after {took:?}");
    assert!(
        took < WAIT + Duration::from_secs(2),
        "{what}: returned far too late, after {took:?}"
    );
}

fn every_timed_wait() {
    let (tx, rx) = sync::channel::<u8>();
    returns_about_on_time("recv_timeout", |d| rx.recv_timeout(d).is_ok());
    let (full_tx, _full_rx) = sync::bounded::<u8>(1);
    full_tx.send(1).unwrap();
    returns_about_on_time("send_timeout on a full channel", |d| {
        full_tx.send_timeout(2, d).is_ok()
    });
    let (rendezvous_tx, _rendezvous_rx) = sync::bounded::<u8>(0);
    returns_about_on_time("send_timeout on a rendezvous", |d| {
        rendezvous_tx.send_timeout(3, d).is_ok()
    });
    let event = Event::new();
    returns_about_on_time("Event::wait_timeout", |d| event.wait_timeout(d));
    let semaphore = Semaphore::new(0);
    returns_about_on_time("Semaphore::acquire_timeout", |d| {
        semaphore.acquire_timeout(d).is_some()
    });
    let mutex = Mutex::new(());
    let _held = mutex.lock();
    let other = Arc::new(Mutex::new(()));
    let held_elsewhere = other.clone();
    let _guard = held_elsewhere.try_lock().unwrap();
    returns_about_on_time("Mutex::lock_timeout", |d| other.lock_timeout(d).is_some());
    let (condvar_mutex, condvar) = (Mutex::new(()), Condvar::new());
    returns_about_on_time("Condvar::wait_timeout", |d| {
        !condvar.wait_timeout(condvar_mutex.lock(), d).1
    });
    let group = WaitGroup::new();
    let _member = group.clone();
    returns_about_on_time("WaitGroup::wait_timeout", |d| group.wait_timeout(d));
    returns_about_on_time("greenhub::timeout", |d| {
        greenhub::timeout(d, || greenhub::sleep(Duration::from_secs(5))).is_ok()
    });
    drop(tx);
}

#[test]
fn every_timed_wait_returns_on_time_in_a_green_thread() {
    greenhub::run(every_timed_wait);
}

#[test]
fn every_timed_wait_returns_on_time_on_a_plain_thread() {
    every_timed_wait();
}

#[test]
fn channel_closing_rules() {
    greenhub::run(|| {
        let (tx, rx) = sync::channel();
        tx.send(1).unwrap();
        let tx2 = tx.clone();
        drop(tx);
        tx2.send(2).unwrap();
        drop(tx2);
        // Values sent before the last sender left are still received, then recv fails.
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Err(sync::RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv_timeout(WAIT), Err(RecvTimeoutError::Disconnected));

        let (tx, rx) = sync::bounded::<String>(1);
        let rx2 = rx.clone();
        drop(rx);
        tx.send("still a receiver".into()).unwrap();
        drop(rx2);
        let err = tx.send("nobody".into()).unwrap_err();
        assert_eq!(err.0, "nobody", "the value comes back");
        assert!(matches!(
            tx.try_send("x".into()),
            Err(TrySendError::Disconnected(_))
        ));
    });
}

#[test]
fn a_parked_receiver_wakes_when_the_last_sender_leaves() {
    greenhub::run(|| {
        let (tx, rx) = sync::channel::<u8>();
        let receiver = greenhub::spawn(move || rx.recv());
        greenhub::sleep(Duration::from_millis(5));
        drop(tx);
        assert_eq!(receiver.join().unwrap(), Err(sync::RecvError));
    });
}

#[test]
fn bounded_channels_apply_backpressure_and_keep_order() {
    greenhub::run(|| {
        let (tx, rx) = sync::bounded(2);
        let producer = greenhub::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
        });
        greenhub::yield_now();
        assert!(rx.len() <= 2, "a bounded channel held {}", rx.len());
        let got: Vec<i32> = rx.iter().collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        producer.join().unwrap();
    });
}

#[test]
fn rendezvous_send_returns_only_after_the_hand_over() {
    greenhub::run(|| {
        let (tx, rx) = sync::bounded(0);
        let taken = Arc::new(Event::new());
        let flag = taken.clone();
        let receiver = greenhub::spawn(move || {
            greenhub::sleep(Duration::from_millis(20));
            let value = rx.recv().unwrap();
            flag.set();
            value
        });
        let start = Instant::now();
        tx.send(7).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "send returned before anyone took it"
        );
        assert_eq!(receiver.join().unwrap(), 7);
        assert!(matches!(
            tx.try_send(8),
            Err(TrySendError::Disconnected(8)) | Err(TrySendError::Full(8))
        ));
    });
}

#[test]
fn every_primitive_works_across_hubs() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let (tx, rx) = sync::bounded(4);
        let event = Arc::new(Event::new());
        let mutex = Arc::new(Mutex::new(0u32));
        let semaphore = Arc::new(Semaphore::new(1));
        let group = WaitGroup::new();
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let (e, m, s, member, p) = (
            event.clone(),
            mutex.clone(),
            semaphore.clone(),
            group.clone(),
            pair.clone(),
        );
        let far = greenhub::spawn_on(1, move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            e.wait();
            for _ in 0..100 {
                let _permit = s.acquire();
                *m.lock() += 1;
            }
            *p.0.lock() = true;
            p.1.notify_all();
            drop(member);
        });
        let sum: u64 = (0..1000).map(|_| rx.recv().unwrap() as u64).sum();
        assert_eq!(sum, 999 * 1000 / 2);
        event.set();
        for _ in 0..100 {
            let _permit = semaphore.acquire();
            *mutex.lock() += 1;
        }
        let mut ready = pair.0.lock();
        while !*ready {
            ready = pair.1.wait(ready);
        }
        drop(ready);
        group.wait();
        far.join().unwrap();
        assert_eq!(*mutex.lock(), 200);
    });
}

#[test]
fn every_primitive_works_from_plain_os_threads() {
    let (tx, rx) = sync::channel();
    let event = Arc::new(Event::new());
    let mutex = Arc::new(Mutex::new(0u32));
    let group = WaitGroup::new();
    let (e, m, member) = (event.clone(), mutex.clone(), group.clone());
    let thread = std::thread::spawn(move || {
        tx.send("from an OS thread").unwrap();
        e.wait();
        *m.lock() += 1;
        drop(member);
    });
    // A green thread and an OS thread talking through the same primitives.
    greenhub::run(move || {
        assert_eq!(rx.recv().unwrap(), "from an OS thread");
        event.set();
        group.wait();
        assert_eq!(*mutex.lock(), 1);
    });
    thread.join().unwrap();
}

#[test]
fn a_mutex_held_across_parks_does_not_stall_the_hub() {
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    rt.run(|| {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..5)
            .map(|i| {
                let mutex = mutex.clone();
                greenhub::spawn(move || {
                    let mut guard = mutex.lock();
                    guard.push(i);
                    greenhub::sleep(Duration::from_millis(2)); // others queue, the hub runs on
                    guard.push(i);
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());
        let order = mutex.lock().clone();
        assert!(
            order.chunks(2).all(|pair| pair[0] == pair[1]),
            "critical sections interleaved: {order:?}"
        );
    });
}

#[test]
fn cancel_wakes_a_green_thread_from_any_wait_and_passes_its_wake_on() {
    greenhub::run(|| {
        let (tx, rx) = sync::channel::<u8>();
        let rx2 = rx.clone();
        let event = Arc::new(Event::new());
        let e = event.clone();
        let waiting: Vec<greenhub::JoinHandle<()>> = vec![
            greenhub::spawn(move || {
                let _ = rx.recv();
            }),
            greenhub::spawn(move || e.wait()),
        ];
        greenhub::sleep(Duration::from_millis(5));
        for handle in &waiting {
            handle.cancel();
        }
        for handle in waiting {
            assert!(handle.join().unwrap_err().is_cancelled());
        }
        // The cancelled receiver is gone from the wait list: a value reaches the other one.
        let other = greenhub::spawn(move || rx2.recv().unwrap());
        greenhub::yield_now();
        tx.send(9).unwrap();
        assert_eq!(other.join().unwrap(), 9);
        assert!(!event.is_set());
    });
}

#[test]
fn select_is_fair_and_honours_timeout_and_default() {
    greenhub::run(|| {
        use greenhub::sync::Select;
        let (a_tx, a) = sync::channel::<u8>();
        let (b_tx, b) = sync::channel::<u8>();
        // Both always ready: over many rounds, both arms must be picked.
        let (mut from_a, mut from_b) = (0, 0);
        for _ in 0..200 {
            a_tx.send(1).unwrap();
            b_tx.send(2).unwrap();
            let picked = Select::new()
                .recv(&a, |v| v.unwrap())
                .recv(&b, |v| v.unwrap())
                .wait();
            if picked == 1 {
                from_a += 1;
                b.recv().unwrap();
            } else {
                from_b += 1;
                a.recv().unwrap();
            }
        }
        assert!(
            from_a > 50 && from_b > 50,
            "unfair select: {from_a} from a, {from_b} from b"
        );

        // Nothing ready: default at once, or timeout after about its time.
        assert_eq!(
            Select::new().recv(&a, |_| "a").default(|| "default").wait(),
            "default"
        );
        returns_about_on_time("Select timeout", |d| {
            Select::new().recv(&a, |_| true).timeout(d, || false).wait()
        });

        // A parked select wakes for a send from another green thread, and for a send arm.
        let sender = greenhub::spawn(move || {
            greenhub::sleep(Duration::from_millis(5));
            b_tx.send(7).unwrap();
        });
        assert_eq!(
            Select::new()
                .recv(&a, |_| 0)
                .recv(&b, |v| v.unwrap())
                .wait(),
            7
        );
        sender.join().unwrap();
        let (full_tx, full_rx) = sync::bounded::<u8>(1);
        full_tx.send(1).unwrap();
        let drainer = greenhub::spawn(move || {
            greenhub::sleep(Duration::from_millis(5));
            (full_rx.recv().unwrap(), full_rx.recv().unwrap())
        });
        let sent = Select::new()
            .send(&full_tx, 2, |r| r.is_ok())
            .recv(&a, |_| false)
            .wait();
        assert!(sent);
        assert_eq!(drainer.join().unwrap(), (1, 2));
        // A closed channel's receive arm fires with the error.
        drop(a_tx);
        assert!(Select::new().recv(&a, |v| v.is_err()).wait());
    });
}
