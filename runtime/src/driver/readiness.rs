//! One direction's readiness of a descriptor: "may be ready, try the call", "closed for good", and
//! a count of readiness events, packed in one atomic so that it can be cleared without losing an
//! event that arrives meanwhile. Model-checked with loom (see `crate::loom`).
//!
//! ```text
//!   bits:  [ tick count ............ | CLOSED | READY ]
//!
//!   caller: observed = load ─► READY? ─► op() ─► WouldBlock ─► clear(observed)
//!   poller: mark(): tick += 1, READY (, CLOSED) ─────────────┘ (a mark in between changes the
//!                                                               tick, so the clear fails and
//!                                                               READY stays: no lost edge)
//! ```

use crate::loom::{AtomicU32, Ordering};

const READY: u32 = 1;
const CLOSED: u32 = 2;
const TICK_SHIFT: u32 = 2;

/// A snapshot of [`Readiness`], taken before an attempt so the clear after it can tell whether
/// an event arrived in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Observed(u32);

impl Observed {
    /// The call is worth trying.
    pub(crate) fn is_ready(self) -> bool {
        self.0 & READY != 0
    }
}

/// Readiness of one direction (read or write) of one descriptor.
pub(crate) struct Readiness(AtomicU32);

impl Readiness {
    /// A new descriptor: ready, since nothing says otherwise until a call would block.
    pub(crate) fn new() -> Readiness {
        Readiness(AtomicU32::new(READY))
    }

    pub(crate) fn observe(&self) -> Observed {
        Observed(self.0.load(Ordering::Acquire))
    }

    /// Records a readiness event: bumps the tick and sets "may be ready" (and "closed", which
    /// then lasts).
    pub(crate) fn mark(&self, closed: bool) {
        let closed = if closed { CLOSED } else { 0 };
        let update = |value: u32| {
            let tick = (value >> TICK_SHIFT).wrapping_add(1);
            Some((tick << TICK_SHIFT) | (value & CLOSED) | closed | READY)
        };
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, update);
    }

    /// Clears "may be ready" after a call found nothing, unless an event arrived since
    /// `observed` was taken or the direction is closed for good.
    pub(crate) fn clear(&self, observed: Observed) {
        if observed.0 & READY != 0 && observed.0 & CLOSED == 0 {
            let _ = self.0.compare_exchange(
                observed.0,
                observed.0 & !READY,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_clear_after_an_event_keeps_the_descriptor_ready() {
        let readiness = Readiness::new();
        let before = readiness.observe();
        readiness.mark(false);
        readiness.clear(before);
        assert!(readiness.observe().is_ready());
        let now = readiness.observe();
        readiness.clear(now);
        assert!(!readiness.observe().is_ready());
    }

    #[test]
    fn closed_lasts_and_is_never_cleared() {
        let readiness = Readiness::new();
        readiness.mark(true);
        let seen = readiness.observe();
        readiness.clear(seen);
        readiness.mark(false);
        readiness.clear(readiness.observe());
        assert!(readiness.observe().is_ready());
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use ::loom::sync::atomic::AtomicBool;
    use ::loom::sync::Arc;
    use ::loom::thread;

    /// A caller's failed attempt races with data arriving and its event being marked: once both
    /// are done, either the caller consumed the data or the descriptor is still marked ready, so
    /// the next attempt runs (an edge is never lost).
    #[test]
    fn loom_readiness_clear_never_loses_an_edge() {
        crate::loom::model(|| {
            let readiness = Arc::new(Readiness::new());
            let data = Arc::new(AtomicBool::new(false));
            // Start from "drained": the caller's previous attempt found nothing.
            readiness.clear(readiness.observe());
            readiness.mark(false); // a stale event from earlier: ready, nothing there
            let poller = {
                let (readiness, data) = (readiness.clone(), data.clone());
                thread::spawn(move || {
                    data.store(true, Ordering::Release);
                    readiness.mark(false);
                })
            };
            let mut consumed = false;
            let observed = readiness.observe();
            if observed.is_ready() {
                if data.swap(false, Ordering::AcqRel) {
                    consumed = true;
                } else {
                    readiness.clear(observed); // WouldBlock
                }
            }
            poller.join().unwrap();
            let left = data.load(Ordering::Acquire);
            assert!(
                consumed || !left || readiness.observe().is_ready(),
                "data is waiting but the descriptor is marked not ready"
            );
        });
    }
}
