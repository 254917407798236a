//! How a `Select` with several arms can take part in a rendezvous (`bounded(0)`) on one of them.
//!
//! A rendezvous send completes only when a receiver is bound to take its value. A plain receiver
//! is; a select parked on several arms is not, since it may fire another arm. So while a select
//! is parked, its receive arms offer a *claim*: a sender that wins the claim (one atomic
//! compare-exchange, under the channel's lock) reserves its value for that select and arm, and
//! the select, when it wakes, fires exactly that arm. A select that is running (looking at its
//! arms itself) cannot be claimed, so it never completes two arms.
//!
//! ```text
//!   select:  RUNNING ──park──► WAITING ──wake──► RUNNING        (nobody claimed it)
//!                                  └──sender wins──► CLAIMED(arm) ──wake──► fires `arm`
//! ```

use crate::task::Unpark;
use crate::GreenThread;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const RUNNING: usize = 0;
const WAITING: usize = 1;
const CLAIMED: usize = 2;

/// A parked select's offer to be handed one value on one of its receive arms.
#[derive(Debug, Default)]
pub(crate) struct Claim(AtomicUsize);

impl Claim {
    /// The select is about to park: from now on a sender may claim it.
    pub(crate) fn offer(&self) {
        self.0.store(WAITING, Ordering::SeqCst);
    }

    /// The select woke: withdraws the offer. Returns the arm a sender claimed it for, if one did
    /// (its value is reserved for this select on that arm's channel).
    pub(crate) fn withdraw(&self) -> Option<usize> {
        match self
            .0
            .compare_exchange(WAITING, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => None,
            Err(claimed) => {
                self.0.store(RUNNING, Ordering::SeqCst);
                (claimed >= CLAIMED).then(|| claimed - CLAIMED)
            }
        }
    }

    /// A sender tries to claim the select for `arm`; true when it won.
    pub(crate) fn try_claim(&self, arm: usize) -> bool {
        self.0
            .compare_exchange(WAITING, CLAIMED + arm, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Names this claim on a value reserved for it.
    pub(crate) fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

/// A select's receive arm waiting on a channel, with the claim that lets a sender hand it a
/// value.
pub(crate) struct ClaimWaiter {
    pub(crate) who: GreenThread,
    pub(crate) claim: Arc<Claim>,
    pub(crate) arm: usize,
}

impl Unpark for ClaimWaiter {
    fn unpark(&self) {
        self.who.unpark();
    }

    fn wake_if_alive(&self) -> bool {
        self.who.wake_if_alive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_a_waiting_select_can_be_claimed_and_only_once() {
        let claim = Claim::default();
        assert!(!claim.try_claim(0), "a running select is not claimable");
        claim.offer();
        assert!(claim.try_claim(2));
        assert!(!claim.try_claim(1), "claimed once");
        assert_eq!(claim.withdraw(), Some(2));
        claim.offer();
        assert_eq!(claim.withdraw(), None);
    }
}
