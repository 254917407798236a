//! The hub's sleep handshake: the small lock-free protocol through which a wake from another
//! thread learns whether the hub's poller must be woken. Model-checked with loom (see
//! `crate::loom`); a green thread's own half is `crate::task::RemoteWakeFlag`.
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
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_notification_of_a_sleeping_hub_wakes_its_poller() {
        let handshake = SleepHandshake::default();
        assert!(handshake.begin_sleep(), "nothing queued: it may sleep");
        assert!(
            handshake.notify(),
            "asleep, first notification: wake the poller"
        );
        assert!(
            !handshake.notify(),
            "already notified: no second eventfd write"
        );
        handshake.end_sleep();
        assert!(handshake.take_notification());
        assert!(!handshake.take_notification(), "consumed");
    }

    #[test]
    fn a_hub_with_unseen_work_does_not_sleep_and_an_awake_hub_is_not_woken() {
        let handshake = SleepHandshake::default();
        assert!(
            !handshake.notify(),
            "awake: the hub sees the work on its next loop"
        );
        assert!(handshake.is_notified());
        assert!(!handshake.begin_sleep(), "work is waiting: must not sleep");
        handshake.end_sleep();
    }
}
