//! What `Select` (see `sync::select`) needs of a channel: which wait list an arm joins
//! ([`Side`]), joining and leaving it, passing on a wake it did not use, and taking a value a
//! rendezvous sender reserved for the select.

use super::state::Channel;
use crate::sync::claim::{Claim, ClaimWaiter};
use crate::sync::handoff::Receiving;
use crate::sync::waiters::lock;
use std::sync::Arc;

/// Which of a channel's wait lists a `Select` arm watches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    /// A send arm: woken when there is room (on a rendezvous channel: a receiver).
    Send,
    /// The only arm of its select, receiving: it takes a value it is woken for.
    Take,
    /// A receive arm of a select with other arms.
    Receive,
}

/// What `Select` needs of a channel: to watch for a receive or a send becoming possible.
impl<T> Channel<T> {
    /// Registers a select's arm. A receive arm among several (`Side::Receive`) comes with its
    /// select's claim and its arm number.
    pub(crate) fn watch(
        &self,
        side: Side,
        who: crate::GreenThread,
        claim: &Arc<Claim>,
        arm: usize,
    ) -> u64 {
        let mut state = lock(&self.state);
        match side {
            Side::Send => state.send_waiters.add(who),
            Side::Take => {
                let id = state.receive_waiters.add(Receiving::without_slot(who));
                state.receiver_waits();
                id
            }
            Side::Receive => state.receive_watchers.add(ClaimWaiter {
                who,
                claim: claim.clone(),
                arm,
            }),
        }
    }

    /// A select watching here with `Side::Receive` is parked and can be claimed now: on a
    /// rendezvous channel another select's send arm may be waiting for exactly that. (Not the
    /// select's own send arm, if it has one here: it cannot meet itself, and waking itself
    /// would spin.)
    pub(crate) fn claimable(&self, select: crate::GreenThreadId) {
        let mut state = lock(&self.state);
        if state.capacity == Some(0) {
            // Every other one: a plain sender waiting for its own value to be taken cannot use
            // the wake, and the one that can must not miss it.
            while let Some(sender) = state.send_waiters.take_first(|w| w.id() != select) {
                sender.unpark();
            }
        }
    }

    /// Takes the value a sender reserved for the select with `claim`.
    pub(crate) fn take_reserved(&self, claim: &Arc<Claim>) -> Option<T> {
        lock(&self.state).take_reserved(claim.id())
    }

    /// Stops watching; false when a wake was already spent on this watcher.
    pub(crate) fn unwatch(&self, side: Side, id: u64) -> bool {
        let mut state = lock(&self.state);
        match side {
            Side::Send => state.send_waiters.remove(id),
            Side::Take => state.receive_waiters.remove(id),
            Side::Receive => state.receive_watchers.remove(id),
        }
    }

    /// Passes a spent wake on to the next watcher.
    pub(crate) fn forward(&self, side: Side) {
        let mut state = lock(&self.state);
        match side {
            Side::Send => {
                state.send_waiters.wake_one();
            }
            Side::Take | Side::Receive => state.wake_a_receiver(),
        }
    }
}
