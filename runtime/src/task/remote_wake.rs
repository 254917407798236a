//! A green thread's remote-wake flag: the small lock-free protocol that makes a storm of wakes
//! from other threads queue one entry in its hub's remote queue, not one per call.
//! Model-checked with loom (see `crate::loom`); the hub's half is its sleep handshake
//! (`crate::hub::sleep_handshake`).

use crate::loom::{AtomicBool, Ordering};

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
    use ::loom::sync::{Arc, Mutex};
    use ::loom::thread;

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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_storm_of_wakes_queues_one_entry_until_the_hub_takes_it() {
        let flag = RemoteWakeFlag::default();
        assert!(flag.needs_entry());
        assert!(!flag.needs_entry());
        assert!(!flag.needs_entry());
        flag.entry_taken();
        assert!(
            flag.needs_entry(),
            "a wake after the hub took the entry queues a new one"
        );
    }
}
