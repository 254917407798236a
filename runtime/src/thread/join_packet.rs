//! The join packet: where a finished green thread leaves its outcome for whoever joins it. A small
//! lock-free state machine, model-checked with loom (see `crate::loom`).
//!
//! ```text
//!   green thread                 state bits                 JoinHandle
//!   ------------                 ----------                 ----------
//!   write result ─► set COMPLETE ──────────────────────────► join: saw COMPLETE ─► take result
//!                   saw WAITING? wake the waiter ◄─ WAITING ◄─ join: store waiter, set WAITING,
//!                   saw DETACHED? the result is  ◄─ DETACHED ◄─ drop: set DETACHED   park
//!                   ours to drop
//! ```

use crate::loom::{AtomicU8, Ordering, UnsafeCell};
use crate::task::Unpark;

const COMPLETE: u8 = 1;
const WAITING: u8 = 2;
const DETACHED: u8 = 4;

/// Where a finished green thread leaves its outcome `O`; `W` wakes the joiner.
///
/// # Invariant
/// `outcome` is written only by the completing side, once, before it sets `COMPLETE`; afterwards
/// it is read only by the one side that owns it: the handle if it still exists when `COMPLETE`
/// is set, otherwise the completing side (which saw `DETACHED`). `waiter` is written only by the
/// joiner before it sets `WAITING`, and taken only by the completing side after it saw
/// `WAITING`, or by the packet's destructor. The completing side is the green thread itself or,
/// when its hub gives it up (see `Hub::abandon`), that hub on the same OS thread after the green
/// thread can no longer run; the two never both complete (`complete` is called at most once).
pub(crate) struct Packet<O, W> {
    state: AtomicU8,
    outcome: UnsafeCell<Option<O>>,
    waiter: UnsafeCell<Option<W>>,
}

// SAFETY: access to the cells follows the state protocol above, so no two threads touch a cell
// at once; the outcome crosses threads only when `O: Send`, the waiter only when `W: Send`.
unsafe impl<O: Send, W: Send> Send for Packet<O, W> {}
// SAFETY: as above: `&Packet` only gives access under the protocol.
unsafe impl<O: Send, W: Send> Sync for Packet<O, W> {}

impl<O, W: Unpark> Packet<O, W> {
    pub(crate) fn new() -> Packet<O, W> {
        Packet {
            state: AtomicU8::new(0),
            outcome: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Leaves the outcome, once. Returns it back when the handle was dropped meanwhile: then
    /// nobody will take it and the caller reports and drops it.
    pub(crate) fn complete(&self, outcome: O) -> Option<O> {
        // SAFETY: before COMPLETE is set only the completing side touches `outcome`.
        self.outcome
            .with_mut(|cell| unsafe { *cell = Some(outcome) });
        let previous = self.state.fetch_or(COMPLETE, Ordering::AcqRel);
        if previous & WAITING != 0 {
            // SAFETY: the joiner wrote `waiter` before setting WAITING and never touches it again.
            if let Some(waiter) = self.waiter.with_mut(|cell| unsafe { (*cell).take() }) {
                waiter.unpark();
            }
        }
        if previous & DETACHED != 0 {
            // SAFETY: the handle is gone, so the outcome is the completing side's to drop.
            return self.outcome.with_mut(|cell| unsafe { (*cell).take() });
        }
        None
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Takes the outcome once `COMPLETE` was observed by the handle's owner.
    fn take(&self) -> Option<O> {
        // SAFETY: COMPLETE is set and the handle (our caller) still exists, so the outcome
        // belongs to it alone.
        self.outcome.with_mut(|cell| unsafe { (*cell).take() })
    }

    /// Waits for the outcome as `me()` (asked only if it must wait), calling `park` until it is
    /// there. `park` may unwind (the joiner was cancelled); the handle's drop then detaches.
    pub(crate) fn wait(&self, me: impl FnOnce() -> W, mut park: impl FnMut()) -> O {
        if !self.is_complete() {
            let me = me();
            // SAFETY: only the joiner writes `waiter`, and only before setting WAITING.
            self.waiter.with_mut(|cell| unsafe { *cell = Some(me) });
            let previous = self.state.fetch_or(WAITING, Ordering::AcqRel);
            if previous & COMPLETE == 0 {
                while !self.is_complete() {
                    park();
                }
            }
        }
        self.take().expect("a green thread's outcome is taken once")
    }

    /// The handle is dropped without joining. Returns the outcome if it was already there, for
    /// the caller to report and drop.
    pub(crate) fn detach(&self) -> Option<O> {
        let previous = self.state.fetch_or(DETACHED, Ordering::AcqRel);
        if previous & COMPLETE != 0 {
            return self.take();
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct NoWaiter;
    impl Unpark for NoWaiter {
        fn unpark(&self) {}
    }

    #[test]
    fn a_detached_packet_hands_the_outcome_back_to_whoever_comes_second() {
        let packet: Packet<u32, NoWaiter> = Packet::new();
        assert_eq!(packet.detach(), None);
        assert_eq!(packet.complete(7), Some(7));

        let packet: Packet<u32, NoWaiter> = Packet::new();
        assert_eq!(packet.complete(8), None);
        assert_eq!(packet.detach(), Some(8));
    }

    #[test]
    fn a_join_after_completion_takes_the_outcome_without_parking() {
        let packet: Packet<u32, NoWaiter> = Packet::new();
        assert_eq!(packet.complete(9), None);
        assert_eq!(packet.wait(|| NoWaiter, || panic!("must not park")), 9);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use ::loom::sync::atomic::AtomicUsize;
    use ::loom::sync::Arc;
    use ::loom::thread;

    /// Counts drops, so a model can check the outcome is dropped exactly once.
    struct Outcome(Arc<AtomicUsize>);
    impl Drop for Outcome {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A join racing the completion: the joiner gets the outcome and is never left parked.
    #[test]
    fn loom_join_packet_wakes_the_joiner() {
        crate::loom::model(|| {
            let packet: Arc<Packet<u32, thread::Thread>> = Arc::new(Packet::new());
            let finisher = {
                let packet = packet.clone();
                thread::spawn(move || assert!(packet.complete(42).is_none()))
            };
            assert_eq!(packet.wait(thread::current, thread::park), 42);
            finisher.join().unwrap();
        });
    }

    /// A detach racing the completion: the outcome is dropped exactly once, by one side.
    #[test]
    fn loom_join_packet_detach_drops_the_outcome_once() {
        crate::loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let packet: Arc<Packet<Outcome, thread::Thread>> = Arc::new(Packet::new());
            let finisher = {
                let (packet, drops) = (packet.clone(), drops.clone());
                thread::spawn(move || drop(packet.complete(Outcome(drops))))
            };
            drop(packet.detach());
            finisher.join().unwrap();
            drop(packet);
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        });
    }
}
