//! Multi-producer, multi-consumer channels: unbounded, bounded, and rendezvous (`bounded(0)`).
//!
//! This file holds what users see: the two halves, [`Sender`] and [`Receiver`], the
//! constructors [`channel`] and [`bounded`], and the methods that send and receive. The rest
//! lives beside it, by concern:
//!
//! - `state`: the state both halves share (the queue of values, the counts of senders and
//!   receivers, the wait lists) and the blocking send and receive built on it;
//! - `rendezvous`: the hand-over of a `bounded(0)` channel: a value given straight to a claimed
//!   `Select`, reserved for it, or taken back by a send that is cut short;
//! - `watch`: what `Select` needs of a channel (see `sync::select`);
//! - `iter`: the iterators over a [`Receiver`];
//! - `error`: the error types.

mod error;
mod iter;
mod rendezvous;
mod state;
mod watch;

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use iter::{IntoIter, Iter, TryIter};
pub(crate) use state::Channel;
pub(crate) use watch::Side;

use super::waiters::{lock, WaitList};
use crate::sync::state_lock::StateLock;
use state::State;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sending half of a channel; clone it for more producers.
///
/// Like std's, it crosses threads only when the values it carries can (`T: Send`):
///
/// ```compile_fail
/// fn moved_to_another_thread<S: Send>(_: S) {}
/// let (tx, _rx) = greenhub::sync::channel::<std::rc::Rc<u8>>();
/// moved_to_another_thread(tx);
/// ```
pub struct Sender<T> {
    channel: Arc<Channel<T>>,
}

/// The receiving half of a channel; clone it for more consumers (each value goes to one).
pub struct Receiver<T> {
    channel: Arc<Channel<T>>,
}

fn new_channel<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let channel = Arc::new(Channel {
        state: StateLock::new(State {
            queue: VecDeque::new(),
            reserved: 0,
            capacity,
            senders: 1,
            receivers: 1,
            next_ticket: 0,
            receive_waiters: WaitList::default(),
            receive_watchers: WaitList::default(),
            send_waiters: WaitList::default(),
        }),
        capacity,
    });
    (
        Sender {
            channel: channel.clone(),
        },
        Receiver { channel },
    )
}

/// A channel with no bound: `send` never waits.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let (tx, rx) = greenhub::sync::channel();
///     for i in 0..3 {
///         let tx = tx.clone();
///         greenhub::spawn(move || tx.send(i).unwrap());
///     }
///     drop(tx);
///     let mut got: Vec<i32> = rx.iter().collect(); // ends once every sender is gone
///     got.sort();
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    new_channel(None)
}

/// A channel holding at most `capacity` values: `send` parks while it is full. With a capacity
/// of 0 it is a rendezvous: `send` returns only once a receiver has taken the value.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let (tx, rx) = greenhub::sync::bounded(0);
///     let receiver = greenhub::spawn(move || rx.recv().unwrap());
///     tx.send("handed over").unwrap(); // returns once the receiver has it
///     assert_eq!(receiver.join().unwrap(), "handed over");
/// });
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    new_channel(Some(capacity))
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl<T> Sender<T> {
    /// Sends a value, parking while a bounded channel is full (and, for `bounded(0)`, until a
    /// receiver takes it).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value back once every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.channel
            .send_until(value, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Like [`send`](Self::send), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Disconnected`], each with the value.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.channel.send_until(value, deadline_after(timeout))
    }

    /// Sends only if that needs no waiting: room in a bounded channel, or (for `bounded(0)`) a
    /// receiver already waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`], each with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = lock(&self.channel.state);
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        match state.capacity {
            Some(0) if state.has_waiting_receiver() => {
                let _ = state.push(value);
                Ok(())
            }
            // Handing a value straight to a select must not overtake one still queued for a
            // receiver: the select could take that one later, after this newer one.
            Some(0) if state.queue.len() == state.reserved => {
                state.hand_to_a_select(value).map_err(TrySendError::Full)
            }
            Some(0) => Err(TrySendError::Full(value)),
            _ if !state.has_room() => Err(TrySendError::Full(value)),
            _ => {
                let _ = state.push(value);
                Ok(())
            }
        }
    }

    /// How many values wait in the channel.
    pub fn len(&self) -> usize {
        lock(&self.channel.state).queue.len()
    }

    /// Whether no value waits in the channel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn channel(&self) -> &Channel<T> {
        &self.channel
    }
}

impl<T> Receiver<T> {
    /// Receives a value, parking until one arrives.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.channel.recv_until(None).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] or [`RecvTimeoutError::Disconnected`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.channel.recv_until(deadline_after(timeout))
    }

    /// Receives a value if one is waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.channel.state);
        match state.take() {
            Some(value) => Ok(value),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    pub(crate) fn channel(&self) -> &Channel<T> {
        &self.channel
    }

    /// An iterator that receives until the channel is closed.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// An iterator over the values waiting now, without parking.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// How many values wait in the channel.
    pub fn len(&self) -> usize {
        lock(&self.channel.state).queue.len()
    }

    /// Whether no value waits in the channel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        lock(&self.channel.state).senders += 1;
        Sender {
            channel: self.channel.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        lock(&self.channel.state).receivers += 1;
        Receiver {
            channel: self.channel.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.channel.state);
        state.senders -= 1;
        if state.senders == 0 {
            state.receive_waiters.wake_all();
            state.receive_watchers.wake_all();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.channel.state);
        state.receivers -= 1;
        if state.receivers == 0 {
            state.send_waiters.wake_all();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("len", &self.len()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .finish()
    }
}
