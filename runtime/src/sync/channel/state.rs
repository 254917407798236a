//! The state a channel's two halves share: the queue of values (each with the ticket its send
//! was given), the counts of senders and receivers, and the wait lists; the queue's basic moves
//! (push, take, wake whoever can use the change), and the blocking send and receive that wait
//! on them (see `sync::waiters`).

use super::error::{RecvTimeoutError, SendTimeoutError};
use crate::sync::claim::ClaimWaiter;
use crate::sync::handoff::{Receiving, Slot};
use crate::sync::state_lock::StateLock;
use crate::sync::waiters::{lock, park_raw_until, Wait, WaitList};
use crate::GreenThread;
use std::collections::VecDeque;
use std::time::Instant;

/// A value in the channel, with the ticket its send was given.
pub(super) struct Queued<T> {
    pub(super) ticket: u64,
    pub(super) value: T,
    /// The claim of the select this value was handed to (see `sync::claim`), or 0: anyone's.
    pub(super) reserved_for: usize,
}

pub(super) struct State<T> {
    pub(super) queue: VecDeque<Queued<T>>,
    /// How many queued values are reserved for a select.
    pub(super) reserved: usize,
    /// `None`: unbounded. `Some(0)`: rendezvous, a send returns once a receiver took the value.
    pub(super) capacity: Option<usize>,
    pub(super) senders: usize,
    pub(super) receivers: usize,
    pub(super) next_ticket: u64,
    /// Receivers that will take a value they are woken for: `recv` and its kin (each with a
    /// slot a sender can hand a value into, see `sync::handoff`), and `Select`s whose only arm
    /// receives here. On a rendezvous channel these are "a receiver waits".
    pub(super) receive_waiters: WaitList<Receiving<T, GreenThread>>,
    /// `Select`s with other arms too, which may fire one of those instead of receiving here;
    /// parked, they can be claimed by a rendezvous sender (see `sync::claim`).
    pub(super) receive_watchers: WaitList<ClaimWaiter>,
    pub(super) send_waiters: WaitList,
}

pub(crate) struct Channel<T> {
    pub(super) state: StateLock<State<T>>,
    /// `State::capacity`, readable without the lock.
    pub(super) capacity: Option<usize>,
}

impl<T> State<T> {
    /// Takes the oldest value not reserved for a select, telling senders that room (or a
    /// hand-over) happened.
    #[inline]
    pub(super) fn take(&mut self) -> Option<T> {
        let queued = if self.reserved == 0 {
            self.queue.pop_front()?
        } else {
            let at = self.queue.iter().position(|q| q.reserved_for == 0)?;
            self.queue.remove(at)?
        };
        self.taken();
        Some(queued.value)
    }

    /// A value left the channel: room for a sender (on a rendezvous channel, every sender waits
    /// for its own value to be taken, so each one looks).
    #[inline]
    pub(super) fn taken(&mut self) {
        match self.capacity {
            Some(0) => self.send_waiters.wake_all(),
            _ => {
                self.send_waiters.wake_one();
            }
        }
    }

    pub(super) fn has_room(&self) -> bool {
        match self.capacity {
            None | Some(0) => true,
            Some(capacity) => self.queue.len() < capacity,
        }
    }

    /// Sends `value`: hands it straight to a parked receiver if one waits (returns `None`: it
    /// has been taken), else queues it and returns its ticket.
    pub(super) fn push(&mut self, value: T) -> Option<u64> {
        let value = match self.hand_to_a_receiver(value) {
            Ok(()) => {
                // This send may have been woken for room it did not use (the value went
                // straight to a receiver): the room is still free, so the next sender waiting
                // for it gets the wake. A hand-off only happens with nothing unreserved queued,
                // so a sender still waiting does find room.
                if self.capacity.is_some_and(|capacity| capacity > 0) {
                    self.send_waiters.wake_one();
                }
                return None;
            }
            Err(value) => value,
        };
        self.next_ticket += 1;
        self.queue.push_back(Queued {
            ticket: self.next_ticket,
            value,
            reserved_for: 0,
        });
        self.wake_a_receiver();
        Some(self.next_ticket)
    }

    /// Gives `value` to the longest-waiting receiver if that one waits with a slot (see
    /// `sync::handoff`); gives it back otherwise. Values still queued go first, so that no
    /// receiver gets a newer value before an older one.
    #[inline]
    fn hand_to_a_receiver(&mut self, mut value: T) -> Result<(), T> {
        if self.queue.len() != self.reserved {
            return Err(value);
        }
        while self.receive_waiters.first_is(Receiving::has_slot) {
            let receiver = self.receive_waiters.pop_first().expect("there is a first");
            // A receiver that can never run again (its hub stopped) is passed over.
            match receiver.give(value) {
                Ok(()) => return Ok(()),
                Err(back) => value = back,
            }
        }
        Err(value)
    }

    /// A value given to a receiver that then left without taking it: back to the front of the
    /// queue, and a wake for whoever can take it.
    pub(super) fn give_back(&mut self, value: T) {
        self.queue.push_front(Queued {
            ticket: 0, // no sender waits for it: its send returned when it was given
            value,
            reserved_for: 0,
        });
        self.wake_a_receiver();
    }

    /// A value came (or a wake for one was passed on): a receiver that will take it, if any is
    /// waiting, else a select that may.
    pub(super) fn wake_a_receiver(&mut self) {
        if !self.receive_waiters.wake_one() {
            self.receive_watchers.wake_one();
        }
    }
}

impl<T> Channel<T> {
    pub(super) fn send_until(
        &self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut value = Some(value);
        let senders = Wait::new(&self.state, |s| &mut s.send_waiters).deadline(deadline);
        let ticket = senders.until(|s| {
            if s.receivers == 0 {
                return Some(Err(()));
            }
            s.has_room()
                .then(|| Ok(s.push(value.take().expect("sent once"))))
        });
        let ticket = match ticket {
            Some(Ok(Some(ticket))) => ticket,
            Some(Ok(None)) => return Ok(()), // handed to a receiver

            Some(Err(())) => {
                return Err(SendTimeoutError::Disconnected(
                    value.take().expect("not sent"),
                ))
            }
            None => return Err(SendTimeoutError::Timeout(value.take().expect("not sent"))),
        };
        if self.capacity != Some(0) {
            return Ok(());
        }
        // Rendezvous: wait until a receiver took this very value. Cancelled or timed out
        // meanwhile: take the value back under the same lock that decides it, so it is either
        // delivered (and the send returns Ok) or never delivered (and the send unwinds).
        let handed_over = senders.until_or_undo(
            |s| {
                if !s.holds(ticket) {
                    Some(Ok(()))
                } else if s.receivers == 0 {
                    Some(Err(()))
                } else {
                    None
                }
            },
            |s| s.retract(ticket),
        );
        let mut state = lock(&self.state);
        match handed_over {
            Some(Ok(())) => Ok(()),
            outcome => match state.retract(ticket) {
                Some(value) if outcome.is_none() => Err(SendTimeoutError::Timeout(value)),
                Some(value) => Err(SendTimeoutError::Disconnected(value)),
                None => Ok(()), // taken in the very last moment
            },
        }
    }

    /// Receives, parking until a value comes: either a sender hands it into this receiver's
    /// slot (taken after the wake without locking again) or it is queued and taken under the
    /// lock. The loop is `Wait::until`'s (see `sync::waiters`), with the slot added.
    pub(super) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let slot = Slot::new();
        loop {
            let id = {
                let mut state = lock(&self.state);
                match state.take() {
                    Some(value) => return Ok(value),
                    None if state.senders == 0 => return Err(RecvTimeoutError::Disconnected),
                    None => {}
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(RecvTimeoutError::Timeout);
                }
                if let Some(interrupt) = crate::hub::interrupt::pending() {
                    drop(state);
                    interrupt.raise();
                }
                let id = state
                    .receive_waiters
                    .add(Receiving::with_slot(GreenThread::for_wait_list(), &slot));
                state.receiver_waits();
                id
            };
            let waiting = WaitingReceiver {
                channel: self,
                slot: &slot,
                id,
            };
            park_raw_until(deadline);
            if let Some(value) = waiting.finish() {
                return Ok(value);
            }
        }
    }
}

/// A receiver on the receive list with a slot; takes it off when it stops waiting, however it
/// stops, and keeps a value given to it from being lost.
struct WaitingReceiver<'a, T> {
    channel: &'a Channel<T>,
    slot: &'a Slot<T>,
    id: u64,
}

impl<T> WaitingReceiver<'_, T> {
    /// After a wake (or the deadline): the value given to this receiver, if any; otherwise it
    /// leaves the list (unless a waker took it off already) and the caller looks again.
    #[inline]
    fn finish(self) -> Option<T> {
        let given = self.slot.take_given().or_else(|| {
            let chosen = !lock(&self.channel.state).receive_waiters.remove(self.id);
            // Taken off the list: a value given before our lock is in the slot now, or this
            // was a wake without one (the last sender left, or a wake passed on).
            chosen.then(|| self.slot.take_given()).flatten()
        });
        std::mem::forget(self);
        given
    }
}

impl<T> Drop for WaitingReceiver<'_, T> {
    /// Leaving without looking (unwinding out of the park): a value given to us goes back to
    /// the channel, and a wake spent on us goes to the next receiver.
    fn drop(&mut self) {
        let mut state = lock(&self.channel.state);
        if state.receive_waiters.remove(self.id) {
            return;
        }
        match self.slot.take_given() {
            Some(value) => state.give_back(value),
            None => state.wake_a_receiver(),
        }
    }
}
