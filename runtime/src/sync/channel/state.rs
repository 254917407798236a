//! The state a channel's two halves share: the queue of values (each with the ticket its send
//! was given), the counts of senders and receivers, and the wait lists; the queue's basic moves
//! (push, take, wake whoever can use the change), and the blocking send and receive that wait
//! on them (see `sync::waiters`).

use super::error::{RecvTimeoutError, SendTimeoutError};
use crate::loom::Mutex;
use crate::sync::claim::ClaimWaiter;
use crate::sync::waiters::{lock, Wait, WaitList};
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
    /// Receivers that will take a value they are woken for: `recv` and its kin, and `Select`s
    /// whose only arm receives here. On a rendezvous channel these are "a receiver waits".
    pub(super) receive_waiters: WaitList,
    /// `Select`s with other arms too, which may fire one of those instead of receiving here;
    /// parked, they can be claimed by a rendezvous sender (see `sync::claim`).
    pub(super) receive_watchers: WaitList<ClaimWaiter>,
    pub(super) send_waiters: WaitList,
}

pub(crate) struct Channel<T> {
    pub(super) state: Mutex<State<T>>,
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

    pub(super) fn push(&mut self, value: T) -> u64 {
        self.next_ticket += 1;
        self.queue.push_back(Queued {
            ticket: self.next_ticket,
            value,
            reserved_for: 0,
        });
        self.wake_a_receiver();
        self.next_ticket
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
            Some(Ok(ticket)) => ticket,
            Some(Err(())) => {
                return Err(SendTimeoutError::Disconnected(
                    value.take().expect("not sent"),
                ))
            }
            None => return Err(SendTimeoutError::Timeout(value.take().expect("not sent"))),
        };
        if lock(&self.state).capacity != Some(0) {
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

    pub(super) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let received = Wait::new(&self.state, |s| &mut s.receive_waiters)
            .deadline(deadline)
            .on_join(State::receiver_waits)
            .until(|s| match s.take() {
                Some(value) => Some(Ok(value)),
                None if s.senders == 0 => Some(Err(RecvTimeoutError::Disconnected)),
                None => None,
            });
        received.unwrap_or(Err(RecvTimeoutError::Timeout))
    }
}
