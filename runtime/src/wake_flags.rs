//! The two small lock-free handshakes through which a wake crosses from one thread to a hub:
//! the hub's sleep handshake (is a poller wake needed?) and a green thread's remote-wake flag (is
//! a queue entry needed?). Both are model-checked with loom (see `crate::loom`).
//!
//! ```text
//!   other thread                           hub thread
//!   ------------                           ----------
//!   push work onto the remote queue        sleeping = true
//!   notified.swap(true)                    fence
//!   fence                                  notified?  -> don't sleep, drain
//!   was it false, and sleeping?            else poll (the eventfd write ends it)
//!     -> write the eventfd                 sleeping = false
//!                                          notified.swap(false)? -> drain the queue
//! ```
//!
//! Each side stores one flag and then loads the other (the Dekker pattern). Sequentially
//! consistent operations put the four accesses in one total order, which rules out both sides
//! missing each other's store: either the pusher sees the hub asleep and writes the eventfd, or
//! the hub sees the notification and stays awake. loom models SeqCst accesses as AcqRel (it
//! would report this correct code as broken), so under `--cfg loom` the same order is made
//! explicit with SeqCst fences, which loom does model; on x86 the plain SeqCst operations need
//! no fence instruction at all.

use crate::loom::{AtomicBool, Ordering};

/// Under loom, the store-load order that SeqCst accesses give (see the module doc).
#[inline(always)]
fn order_store_before_load() {
    #[cfg(loom)]
    crate::loom::fence(Ordering::SeqCst);
}

/// A hub's half of "is it asleep, and does it have unseen remote work?".
#[derive(Default)]
pub(crate) struct SleepHandshake {
    /// Set while the hub's remote queue has work the hub has not taken; deduplicates wakes.
    notified: AtomicBool,
    /// Set while the hub is (about to be) asleep in the poller.
    sleeping: AtomicBool,
}

impl SleepHandshake {
    /// After work was queued for the hub: whether the caller must wake the hub's poller. Only the
    /// first notification since the hub last took its queue can need one.
    pub(crate) fn notify(&self) -> bool {
        let first = !self.notified.swap(true, Ordering::SeqCst);
        order_store_before_load();
        first && self.sleeping.load(Ordering::SeqCst)
    }

    /// The hub is about to sleep in its poller. Returns false when remote work is already
    /// waiting, in which case the hub must not sleep. Either way `end_sleep` follows.
    pub(crate) fn begin_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        order_store_before_load();
        !self.notified.load(Ordering::SeqCst)
    }

    /// The hub is awake again (or never slept).
    pub(crate) fn end_sleep(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Whether remote work may be waiting, without consuming the notification.
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// The hub is about to take its remote queue: consumes the notification. Work queued after
    /// this notifies again.
    pub(crate) fn take_notification(&self) -> bool {
        self.notified.load(Ordering::Relaxed) && self.notified.swap(false, Ordering::AcqRel)
    }
}

/// A green thread's "a wake for me is already in my hub's remote queue", so that a storm of
/// wakes from other threads queues one entry, not one per call.
#[derive(Default)]
pub(crate) struct RemoteWakeFlag(AtomicBool);

impl RemoteWakeFlag {
    /// A wake from another thread: whether the caller must queue an entry for it.
    pub(crate) fn needs_entry(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    /// The hub took the entry out of its queue; called before it makes the green thread
    /// runnable, so a wake that arrives after this queues a new entry rather than being lost.
    /// A waker that still found the flag set relies on that entry: whatever it published before
    /// waking (under the lock the green thread then takes) is seen when the green thread runs.
    pub(crate) fn entry_taken(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// For reusing a finished green thread's header.
    pub(crate) fn reset(&mut self) {
        *self = RemoteWakeFlag::default();
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use ::loom::sync::atomic::AtomicUsize;
    use ::loom::sync::{Arc, Mutex};
    use ::loom::thread;

    /// Every item pushed by another thread is seen by the hub, and the hub never sleeps forever
    /// while its queue holds work (loom reports a deadlock if it could).
    #[test]
    fn loom_sleep_handshake_never_loses_remote_work() {
        crate::loom::model(|| {
            let handshake = Arc::new(SleepHandshake::default());
            let queue = Arc::new(Mutex::new(Vec::new()));
            // The eventfd: a counter the poll waits on and drains.
            let eventfd = Arc::new(AtomicUsize::new(0));
            let hub = thread::current();
            // Not joined: the hub thread parks, and loom's join would see a stray unpark token.
            for item in 0..2 {
                let (handshake, queue, eventfd, hub) = (
                    handshake.clone(),
                    queue.clone(),
                    eventfd.clone(),
                    hub.clone(),
                );
                thread::spawn(move || {
                    queue.lock().unwrap().push(item);
                    if handshake.notify() {
                        eventfd.fetch_add(1, Ordering::Release);
                        hub.unpark();
                    }
                });
            }
            let mut seen = Vec::new();
            while seen.len() < 2 {
                if handshake.take_notification() {
                    seen.append(&mut queue.lock().unwrap());
                    continue;
                }
                if handshake.begin_sleep() {
                    while eventfd.swap(0, Ordering::Acquire) == 0 {
                        thread::park();
                    }
                }
                handshake.end_sleep();
            }
            seen.sort();
            assert_eq!(seen, [0, 1]);
        });
    }

    /// Two wakers publish under a lock, as every primitive does, then wake a green thread while
    /// its hub drains its queue: the last time the green thread runs (and looks, under that
    /// lock) comes after both publications, so no wake is lost to the dedup.
    #[test]
    fn loom_remote_wake_flag_loses_no_wake() {
        crate::loom::model(|| {
            let flag = Arc::new(RemoteWakeFlag::default());
            let entries = Arc::new(Mutex::new(0usize));
            let published = Arc::new(Mutex::new(0usize));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let (flag, entries, published) =
                        (flag.clone(), entries.clone(), published.clone());
                    thread::spawn(move || {
                        *published.lock().unwrap() += 1;
                        if flag.needs_entry() {
                            *entries.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            let mut seen_when_run = 0;
            let mut drain_and_run = || {
                if std::mem::take(&mut *entries.lock().unwrap()) > 0 {
                    flag.entry_taken();
                    seen_when_run = *published.lock().unwrap();
                }
            };
            drain_and_run(); // concurrently with the wakers
            for waker in wakers {
                waker.join().unwrap();
            }
            drain_and_run(); // and once they are done, as the hub's next loop would
            assert_eq!(seen_when_run, 2, "a wake was lost");
        });
    }
}
