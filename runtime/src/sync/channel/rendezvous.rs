//! The hand-over of a rendezvous (`bounded(0)`) channel, on the shared state: a send waits
//! until a receiver took its very value (found by its ticket), or takes it back when cut short;
//! with no receiver bound to take it, `try_send` may claim a parked `Select` that has a receive
//! arm here (see `sync::claim`) and reserve the value for that select alone.

use super::state::{Queued, State};
use crate::task::Unpark;

impl<T> State<T> {
    /// Takes the value a sender reserved for the select with claim `claim`.
    pub(super) fn take_reserved(&mut self, claim: usize) -> Option<T> {
        let at = self.queue.iter().position(|q| q.reserved_for == claim)?;
        let queued = self.queue.remove(at)?;
        self.reserved -= 1;
        self.taken();
        Some(queued.value)
    }

    /// A receiver joined `receive_waiters`. On a rendezvous channel a `Select` send arm may be
    /// waiting for exactly that (its `try_send` needs a waiting receiver): wake one.
    pub(super) fn receiver_waits(&mut self) {
        if self.capacity == Some(0) {
            self.send_waiters.wake_one();
        }
    }

    /// A rendezvous hand-over without a receiver bound to take the value: claims a parked
    /// select with a receive arm here, reserves the value for it and wakes it. Gives the value
    /// back when no select can be claimed.
    pub(super) fn hand_to_a_select(&mut self, value: T) -> Result<(), T> {
        let Some(select) = self
            .receive_watchers
            .take_first(|w| w.claim.try_claim(w.arm))
        else {
            return Err(value);
        };
        self.next_ticket += 1;
        self.queue.push_back(Queued {
            ticket: self.next_ticket,
            value,
            reserved_for: select.claim.id(),
        });
        self.reserved += 1;
        select.unpark();
        Ok(())
    }

    /// Whether a rendezvous send can hand its value over now: more receivers wait, each bound
    /// to take a value, than values (not reserved for a select) wait for them.
    pub(super) fn has_waiting_receiver(&self) -> bool {
        self.receive_waiters.len() > self.queue.len() - self.reserved
    }

    pub(super) fn holds(&self, ticket: u64) -> bool {
        self.queue.iter().any(|q| q.ticket == ticket)
    }

    pub(super) fn retract(&mut self, ticket: u64) -> Option<T> {
        let at = self.queue.iter().position(|q| q.ticket == ticket)?;
        let value = self.queue.remove(at).map(|q| q.value);
        if self.capacity == Some(0) {
            // The queue changed: a select's send arm refused while this value waited (see
            // `try_send`) may hand its value to a select now.
            self.send_waiters.wake_all();
        }
        value
    }
}
