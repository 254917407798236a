//! `greenhub::sync` at the edges: wakes are neither lost nor bounced forever, a slot or a
//! notification survives a waiter that is cancelled or times out, and a rendezvous send that
//! fails is never delivered. Each test is named after what broke; the findings are those of the
//! soundness review (issue 11). Hangs are caught with a `timeout`, so a regression fails instead
//! of hanging.

mod common;

use greenhub::sync::{bounded, channel, Condvar, Mutex, Select, TryRecvError};
use greenhub::Pool;
use std::sync::Arc;
use std::time::Duration;

/// Long enough that only a hang reaches it.
const HANG: Duration = Duration::from_secs(5);

/// CPU time the calling OS thread has used.
fn thread_cpu_time() -> Duration {
    // SAFETY: a zeroed rusage is a valid out-parameter for getrusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid out-pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0);
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Finding 6: a select that was woken for a value somebody else took passed the wake on to the
/// next watcher, which found nothing and passed it back: two selects bounced one stolen wake
/// forever and the idle hub ran at full CPU.
#[test]
fn a_stolen_wake_does_not_bounce_between_two_selects() {
    greenhub::run(|| {
        let (values_tx, values) = channel::<u32>();
        let (stop_tx, stop) = channel::<()>();
        let (values, stop) = (Arc::new(values), Arc::new(stop));
        let selects: Vec<_> = (0..2)
            .map(|_| {
                let (values, stop) = (values.clone(), stop.clone());
                greenhub::spawn(move || loop {
                    let done = Select::new()
                        .recv(&values, |_| false)
                        .recv(&stop, |_| true)
                        .wait();
                    if done {
                        return;
                    }
                })
            })
            .collect();
        greenhub::yield_now(); // both selects watch `values` now
        values_tx.send(1).unwrap(); // wakes one of them...
        assert_eq!(values.try_recv(), Ok(1)); // ...for a value that is gone before it looks
        let before = thread_cpu_time();
        greenhub::sleep(Duration::from_millis(300));
        let busy = thread_cpu_time() - before;
        assert!(
            busy < Duration::from_millis(150),
            "an idle hub used {busy:?} of CPU in 300 ms: a wake is bouncing"
        );
        drop(stop_tx);
        selects.into_iter().for_each(|s| s.join().unwrap());
    });
}

/// Finding 7: a `Select` send arm on a rendezvous channel waited among the senders, and a
/// receiver that came later waited among the receivers: nobody woke anybody.
#[test]
fn a_select_send_on_a_rendezvous_channel_meets_a_later_receiver() {
    greenhub::run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sender =
            greenhub::spawn(move || Select::new().send(&tx, 7, |sent| sent.is_ok()).wait());
        greenhub::yield_now(); // the select watches, parked
        let received = greenhub::timeout(HANG, || rx.recv());
        assert_eq!(received, Ok(Ok(7)), "the receiver and the select never met");
        assert!(sender.join().unwrap());
    });
}

/// Finding 7, both sides selecting.
#[test]
fn a_select_send_meets_a_select_receive_on_a_rendezvous_channel() {
    greenhub::run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sender =
            greenhub::spawn(move || Select::new().send(&tx, 8, |sent| sent.is_ok()).wait());
        greenhub::yield_now();
        let received =
            greenhub::timeout(HANG, || Select::new().recv(&rx, |value| value.ok()).wait());
        assert_eq!(received, Ok(Some(8)));
        assert!(sender.join().unwrap());
    });
}

/// Finding 8: a pool took its slot with `forget` and built the guard that gives it back inside
/// the spawned closure, so a green thread cancelled before it started kept its slot forever.
#[test]
fn a_pool_green_thread_cancelled_before_it_starts_gives_its_slot_back() {
    greenhub::run(|| {
        let pool = Pool::new(1);
        let never_runs = pool.spawn(|| ());
        never_runs.cancel();
        assert!(never_runs.join().unwrap_err().is_cancelled());
        assert_eq!(pool.running(), 0);
        let next = greenhub::timeout(HANG, || pool.spawn(|| 5).join().unwrap());
        assert_eq!(next, Ok(5), "the pool's only slot was never given back");
    });
}

/// Finding 8, through `Pool::cancel`.
#[test]
fn a_pool_cancelled_before_its_green_threads_start_keeps_its_slots() {
    greenhub::run(|| {
        let pool = Pool::new(2);
        let handles: Vec<_> = (0..2).map(|_| pool.spawn(|| ())).collect();
        pool.cancel();
        for handle in handles {
            assert!(handle.join().unwrap_err().is_cancelled());
        }
        let both = greenhub::timeout(HANG, || {
            let a = pool.spawn(|| 1);
            let b = pool.spawn(|| 2);
            a.join().unwrap() + b.join().unwrap()
        });
        assert_eq!(both, Ok(3));
    });
}

type Shared = Arc<(Mutex<u32>, Condvar)>;

/// Two waiters on one condition variable, the first of which will be interrupted.
fn two_waiters(
    first_waits: impl FnOnce(Shared) + 'static,
) -> (Shared, greenhub::JoinHandle<()>, greenhub::JoinHandle<u32>) {
    let shared: Shared = Arc::new((Mutex::new(0), Condvar::new()));
    let first = {
        let shared = shared.clone();
        greenhub::spawn(move || first_waits(shared))
    };
    greenhub::yield_now(); // the first is now the longest waiter
    let second = {
        let shared = shared.clone();
        greenhub::spawn(move || {
            let (mutex, condvar) = &*shared;
            let mut value = mutex.lock();
            while *value == 0 {
                value = condvar.wait(value);
            }
            *value
        })
    };
    greenhub::yield_now();
    (shared, first, second)
}

/// Finding 9: a waiter chosen by `notify_one` and then cancelled while it retook the mutex left
/// with the notification, and the other waiter slept forever.
#[test]
fn a_condvar_waiter_cancelled_while_retaking_the_lock_passes_its_notification_on() {
    greenhub::run(|| {
        let (shared, first, second) = two_waiters(|shared| {
            let (mutex, condvar) = &*shared;
            let value = mutex.lock();
            let _value = condvar.wait(value);
        });
        let (mutex, condvar) = &*shared;
        let mut value = mutex.lock();
        *value = 1;
        condvar.notify_one(); // chooses the first waiter
        greenhub::yield_now(); // it wakes and parks retaking the mutex we hold
        first.cancel();
        greenhub::yield_now(); // it unwinds out of the wait for the lock
        drop(value);
        assert!(first.join().unwrap_err().is_cancelled());
        let seen = greenhub::timeout(HANG, || second.join().unwrap());
        assert_eq!(
            seen,
            Ok(1),
            "the notification left with the cancelled waiter"
        );
    });
}

/// Finding 9, with the first waiter's `timeout` expiring while it retakes the lock.
#[test]
fn a_condvar_waiter_timing_out_while_retaking_the_lock_passes_its_notification_on() {
    greenhub::run(|| {
        let (shared, first, second) = two_waiters(|shared| {
            let (mutex, condvar) = &*shared;
            let value = mutex.lock();
            let outcome = greenhub::timeout(Duration::from_millis(30), || {
                let _value = condvar.wait(value);
            });
            assert!(
                outcome.is_err(),
                "the scope expires while the lock is held elsewhere"
            );
        });
        let (mutex, condvar) = &*shared;
        let mut value = mutex.lock();
        *value = 1;
        condvar.notify_one();
        greenhub::sleep(Duration::from_millis(60)); // hold the lock past the first's deadline
        drop(value);
        first.join().unwrap();
        let seen = greenhub::timeout(HANG, || second.join().unwrap());
        assert_eq!(
            seen,
            Ok(1),
            "the notification left with the timed-out waiter"
        );
    });
}

/// Finding 10: a rendezvous send cut short by `timeout` told its caller it failed, and then the
/// next receiver got the value anyway.
#[test]
fn a_rendezvous_send_cut_short_by_timeout_is_not_delivered() {
    greenhub::run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sent = greenhub::timeout(Duration::from_millis(20), || tx.send(1));
        assert!(sent.is_err(), "nobody was receiving");
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "the failed send was delivered"
        );
    });
}

/// Finding 10, cut short by `cancel`.
#[test]
fn a_cancelled_rendezvous_send_is_not_delivered() {
    greenhub::run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sender = greenhub::spawn(move || tx.send(2));
        greenhub::yield_now(); // the value waits in the channel for a receiver
        sender.cancel();
        assert!(sender.join().unwrap_err().is_cancelled());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// The other half of the rendezvous promise: a send whose value was taken returns `Ok`, even
/// when its `timeout` expired in the same instant.
#[test]
fn a_rendezvous_send_whose_value_was_taken_returns_ok() {
    greenhub::run(|| {
        for _ in 0..200 {
            let (tx, rx) = bounded::<u32>(0);
            let receiver = greenhub::spawn(move || {
                greenhub::sleep(Duration::from_millis(1));
                rx.try_recv().ok()
            });
            let sent = greenhub::timeout(Duration::from_millis(1), || tx.send(3));
            let received = receiver.join().unwrap();
            assert_eq!(
                sent.is_ok_and(|r| r.is_ok()),
                received.is_some(),
                "sent {sent:?} but received {received:?}"
            );
        }
    });
}

/// A `Select` send arm on a rendezvous channel counted a receiving `Select` with other arms as
/// "a receiver waits" and reported `Ok`; that select then fired another arm, and the value sat
/// in the channel until it was dropped, never received.
#[test]
fn a_select_send_on_a_rendezvous_channel_is_ok_only_if_received() {
    greenhub::run(|| {
        for round in 0..4 {
            if round % 2 == 1 {
                Select::<()>::new().default(|| ()).wait(); // shifts the fair rotation
            }
            let (tx, rx) = bounded::<u32>(0);
            let (other_tx, other_rx) = channel::<&str>();
            let receiver = greenhub::spawn(move || {
                Select::new()
                    .recv(&other_rx, |_| None)
                    .recv(&rx, |value| value.ok())
                    .wait()
            });
            greenhub::yield_now(); // the receiving select watches both channels
            other_tx.send("ping").unwrap(); // another of its arms is ready now
            let sent = Select::new()
                .send(&tx, 7, |sent| sent.is_ok())
                .default(|| false)
                .wait();
            let received = receiver.join().unwrap();
            assert_eq!(
                sent,
                received.is_some(),
                "round {round}: sent {sent}, received {received:?}"
            );
            assert_eq!(tx.len(), 0, "a value sits in a rendezvous channel");
        }
    });
}

/// `Event::set` wakes every waiter, but a waiter that only ran after a `clear` checked the flag
/// again and went back to sleep: a `set(); clear()` pulse was lost.
#[test]
fn an_event_pulse_releases_every_waiter() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let event = Arc::new(greenhub::sync::Event::new());
        let waiters: Vec<_> = (0..2)
            .map(|hub| {
                let event = event.clone();
                greenhub::spawn_on(hub, move || event.wait())
            })
            .collect();
        greenhub::sleep(Duration::from_millis(20)); // both wait
        event.set();
        event.clear();
        for waiter in waiters {
            let joined = greenhub::timeout(HANG, || waiter.join());
            assert!(joined.is_ok(), "a waiter missed the pulse");
        }
    });
}

/// A `Select` send and a `Select` receive with several arms never met on a rendezvous channel:
/// the receiving select did not count as a receiver (it may fire another arm), so the send arm
/// never fired. A parked select can now be claimed by the sender for one arm (second review).
#[test]
fn a_select_send_meets_a_select_with_several_arms_on_a_rendezvous_channel() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        for round in 0..20 {
            let (tx, rx) = bounded::<u32>(0);
            let (_quit_tx, quit) = bounded::<()>(0);
            let receiver = greenhub::spawn_on(round % 2, move || {
                Select::new()
                    .recv(&rx, |value| value.ok())
                    .recv(&quit, |_| None)
                    .timeout(HANG, || None)
                    .wait()
            });
            if round % 3 == 0 {
                greenhub::sleep(Duration::from_millis(1)); // the receiver parks first
            }
            let sent = Select::new()
                .send(&tx, round as u32, |sent| sent.is_ok())
                .timeout(HANG, || false)
                .wait();
            let received = receiver.join().unwrap();
            assert!(
                sent,
                "round {round}: the send never met the receiving select"
            );
            assert_eq!(received, Some(round as u32), "round {round}");
            assert_eq!(tx.len(), 0);
        }
    });
}

/// A parked select offering itself to rendezvous senders woke its own send arm on the same
/// channel, so it never slept and starved its hub (found by the stress suite).
#[test]
fn a_select_sending_and_receiving_on_one_rendezvous_channel_parks_instead_of_spinning() {
    let finished = common::within(Duration::from_secs(10), || {
        greenhub::run(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (_other_tx, other) = channel::<()>();
            let select = greenhub::spawn(move || {
                Select::new()
                    .recv(&rx, |_| "received")
                    .recv(&other, |_| "other")
                    .send(&tx, 1, |_| "sent")
                    .wait()
            });
            greenhub::sleep(Duration::from_millis(20)); // needs the hub to run its timers
            assert!(!select.is_finished(), "nothing could complete");
            select.cancel();
            assert!(select.join().unwrap_err().is_cancelled());
        })
    });
    assert!(finished.is_some(), "the select spun and starved its hub");
}

/// A select's send arm refused because a plain rendezvous send's value was queued (a value
/// handed to a select must not overtake it) was never told when that value was taken back
/// (timeout, cancel): it stayed parked beside a claimable select (third review).
#[test]
fn a_select_send_refused_behind_a_queued_value_meets_a_select_once_it_is_taken_back() {
    let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
    rt.run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (_other_tx, other) = bounded::<u32>(0);
        let receiver = {
            let (rx, other) = (rx.clone(), other.clone());
            greenhub::spawn_on(0, move || {
                Select::new()
                    .recv(&rx, |value| value.ok())
                    .recv(&other, |_| None)
                    .wait()
            })
        };
        greenhub::sleep(Duration::from_millis(10)); // the receiving select is parked
                                                    // A receiver that is woken for a value and takes it itself: a select with one arm (a
                                                    // plain `recv` would have the value handed into its slot at once, and the send would
                                                    // return).
        let plain_receiver = {
            let rx = rx.clone();
            greenhub::spawn_on(1, move || {
                Select::new()
                    .recv(&rx, |value| value.ok())
                    .timeout(Duration::from_millis(30), || None)
                    .wait()
            })
        };
        greenhub::sleep(Duration::from_millis(10));
        // Hub 1 is kept busy, so the plain receiver woken for the value below cannot take it.
        let busy = greenhub::spawn_on(1, || std::thread::sleep(Duration::from_millis(100)));
        greenhub::sleep(Duration::from_millis(5));
        let plain_sender = {
            let tx = tx.clone();
            greenhub::spawn_on(0, move || tx.send(1))
        };
        greenhub::sleep(Duration::from_millis(5)); // its value is queued
        let select_sender = {
            let tx = tx.clone();
            greenhub::spawn_on(0, move || {
                Select::new().send(&tx, 2, |sent| sent.is_ok()).wait()
            })
        };
        greenhub::sleep(Duration::from_millis(5)); // refused: it parks
        plain_sender.cancel(); // its value is taken back
        assert!(plain_sender.join().unwrap_err().is_cancelled());
        busy.join().unwrap();
        let _ = plain_receiver.join().unwrap();
        let sent = greenhub::timeout(HANG, || select_sender.join().unwrap());
        assert_eq!(
            sent,
            Ok(true),
            "the select send never met the parked select"
        );
        assert_eq!(receiver.join().unwrap(), Some(2));
    });
}

/// A value handed straight into a parked receiver's slot has been received: the receiver's
/// `timeout` scope or its `recv_timeout` deadline expiring before it gets to run again must
/// not throw it away (nor put it back for someone else).
#[test]
fn a_value_handed_to_a_receiver_survives_its_deadline_expiring_before_it_runs() {
    greenhub::run(|| {
        let (tx, rx) = channel::<u32>();
        let in_scope = {
            let rx = rx.clone();
            greenhub::spawn(move || greenhub::timeout(Duration::from_millis(5), || rx.recv()))
        };
        let timed = greenhub::spawn(move || rx.recv_timeout(Duration::from_millis(5)));
        greenhub::yield_now(); // both receivers park
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        // Hold the hub until both deadlines are long past before either receiver runs.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(in_scope.join().unwrap(), Ok(Ok(1)));
        assert_eq!(timed.join().unwrap(), Ok(2));
    });
}

/// A sender woken for room on a `bounded(n > 0)` channel that hands its value straight to a
/// parked receiver leaves the room unused: the next sender waiting for room must get the wake,
/// or it stays parked forever beside an empty channel. (Found by review of the hand-off.)
#[test]
fn a_sender_woken_for_room_that_hands_off_passes_the_room_on() {
    greenhub::run(|| {
        let (tx, rx) = greenhub::sync::bounded::<u32>(1);
        tx.send(0).unwrap(); // the channel is full
        let first = {
            let tx = tx.clone();
            greenhub::spawn(move || tx.send(1).unwrap())
        };
        let second = {
            let tx = tx.clone();
            greenhub::spawn(move || tx.send(2).unwrap())
        };
        greenhub::yield_now(); // both wait for room, in that order
        assert_eq!(rx.recv().unwrap(), 0); // room: the first sender is woken
        assert_eq!(rx.recv().unwrap(), 1); // we park first; it hands 1 straight to us
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(2)),
            Ok(2),
            "the second sender was left parked with room in the channel"
        );
        first.join().unwrap();
        second.join().unwrap();
    });
}

/// A value handed to a parked receiver that is cancelled before it runs: the receive has
/// happened, so it returns the value (the cancel takes effect at the next park), and nothing
/// is lost.
#[test]
fn a_value_handed_to_a_receiver_survives_its_cancel_before_it_runs() {
    greenhub::run(|| {
        let (tx, rx) = greenhub::sync::channel::<u32>();
        let receiver = greenhub::spawn(move || rx.recv());
        greenhub::yield_now(); // it parks in recv
        tx.send(7).unwrap(); // handed straight to the parked receiver
        receiver.cancel(); // before it gets to run
        match receiver.join() {
            Ok(Ok(value)) => assert_eq!(value, 7),
            other => panic!("the handed value was lost: {other:?}"),
        }
    });
}
