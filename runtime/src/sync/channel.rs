//! Multi-producer, multi-consumer channels: unbounded, bounded, and rendezvous (`bounded(0)`).

use super::claim::{Claim, ClaimWaiter};
use super::waiters::{lock, Wait, WaitList};
use crate::loom::Mutex;
use crate::task::Unpark;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A value in the channel, with the ticket its send was given.
struct Queued<T> {
    ticket: u64,
    value: T,
    /// The claim of the select this value was handed to (see `sync::claim`), or 0: anyone's.
    reserved_for: usize,
}

struct State<T> {
    queue: VecDeque<Queued<T>>,
    /// How many queued values are reserved for a select.
    reserved: usize,
    /// `None`: unbounded. `Some(0)`: rendezvous, a send returns once a receiver took the value.
    capacity: Option<usize>,
    senders: usize,
    receivers: usize,
    next_ticket: u64,
    /// Receivers that will take a value they are woken for: `recv` and its kin, and `Select`s
    /// whose only arm receives here. On a rendezvous channel these are "a receiver waits".
    receive_waiters: WaitList,
    /// `Select`s with other arms too, which may fire one of those instead of receiving here;
    /// parked, they can be claimed by a rendezvous sender (see `sync::claim`).
    receive_watchers: WaitList<ClaimWaiter>,
    send_waiters: WaitList,
}

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

pub(crate) struct Channel<T> {
    state: Mutex<State<T>>,
}

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
        state: Mutex::new(State {
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

impl<T> State<T> {
    /// Takes the oldest value not reserved for a select, telling senders that room (or a
    /// hand-over) happened.
    #[inline]
    fn take(&mut self) -> Option<T> {
        let queued = if self.reserved == 0 {
            self.queue.pop_front()?
        } else {
            let at = self.queue.iter().position(|q| q.reserved_for == 0)?;
            self.queue.remove(at)?
        };
        self.taken();
        Some(queued.value)
    }

    /// Takes the value a sender reserved for the select with claim `claim`.
    fn take_reserved(&mut self, claim: usize) -> Option<T> {
        let at = self.queue.iter().position(|q| q.reserved_for == claim)?;
        let queued = self.queue.remove(at)?;
        self.reserved -= 1;
        self.taken();
        Some(queued.value)
    }

    /// A value left the channel: room for a sender (on a rendezvous channel, every sender waits
    /// for its own value to be taken, so each one looks).
    #[inline]
    fn taken(&mut self) {
        match self.capacity {
            Some(0) => self.send_waiters.wake_all(),
            _ => {
                self.send_waiters.wake_one();
            }
        }
    }

    fn has_room(&self) -> bool {
        match self.capacity {
            None | Some(0) => true,
            Some(capacity) => self.queue.len() < capacity,
        }
    }

    /// A receiver joined `receive_waiters`. On a rendezvous channel a `Select` send arm may be
    /// waiting for exactly that (its `try_send` needs a waiting receiver): wake one.
    fn receiver_waits(&mut self) {
        if self.capacity == Some(0) {
            self.send_waiters.wake_one();
        }
    }

    fn push(&mut self, value: T) -> u64 {
        self.next_ticket += 1;
        self.queue.push_back(Queued {
            ticket: self.next_ticket,
            value,
            reserved_for: 0,
        });
        self.wake_a_receiver();
        self.next_ticket
    }

    /// A rendezvous hand-over without a receiver bound to take the value: claims a parked
    /// select with a receive arm here, reserves the value for it and wakes it. Gives the value
    /// back when no select can be claimed.
    fn hand_to_a_select(&mut self, value: T) -> Result<(), T> {
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

    /// A value came (or a wake for one was passed on): a receiver that will take it, if any is
    /// waiting, else a select that may.
    fn wake_a_receiver(&mut self) {
        if !self.receive_waiters.wake_one() {
            self.receive_watchers.wake_one();
        }
    }

    /// Whether a rendezvous send can hand its value over now: more receivers wait, each bound
    /// to take a value, than values (not reserved for a select) wait for them.
    fn has_waiting_receiver(&self) -> bool {
        self.receive_waiters.len() > self.queue.len() - self.reserved
    }

    fn holds(&self, ticket: u64) -> bool {
        self.queue.iter().any(|q| q.ticket == ticket)
    }

    fn retract(&mut self, ticket: u64) -> Option<T> {
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

impl<T> Channel<T> {
    fn send_until(&self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
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

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
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
                let id = state.receive_waiters.add(who);
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
                state.push(value);
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
                state.push(value);
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

/// Blocking iterator over a [`Receiver`]; see [`Receiver::iter`].
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

/// Non-blocking iterator over a [`Receiver`]; see [`Receiver::try_iter`].
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Owning blocking iterator over a [`Receiver`].
pub struct IntoIter<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
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

/// Every receiver is gone; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// The channel is empty and every sender is gone.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

/// Why [`Sender::try_send`] failed; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is full (or, for `bounded(0)`, no receiver waits).
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// Why [`Sender::send_timeout`] failed; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// No room (or no taker) before the timeout.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
}

impl<T> SendTimeoutError<T> {
    fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => v,
        }
    }
}

/// Why [`Receiver::try_recv`] failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing waits in the channel.
    Empty,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

/// Why [`Receiver::recv_timeout`] failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the timeout.
    Timeout,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

macro_rules! error_text {
    ($ty:ident $(<$t:ident>)?, $($pattern:pat => $text:expr),+) => {
        impl$(<$t>)? fmt::Display for $ty$(<$t>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($pattern => $text),+ })
            }
        }
        impl$(<$t>)? std::error::Error for $ty$(<$t>)? where Self: fmt::Debug {}
    };
}

error_text!(SendError<T>, SendError(_) => "sending on a channel whose receivers are all gone");
error_text!(RecvError, RecvError => "receiving on an empty channel whose senders are all gone");
error_text!(TrySendError<T>, TrySendError::Full(_) => "the channel is full",
    TrySendError::Disconnected(_) => "sending on a channel whose receivers are all gone");
error_text!(SendTimeoutError<T>, SendTimeoutError::Timeout(_) => "timed out waiting to send",
    SendTimeoutError::Disconnected(_) => "sending on a channel whose receivers are all gone");
error_text!(TryRecvError, TryRecvError::Empty => "the channel is empty",
    TryRecvError::Disconnected => "receiving on an empty channel whose senders are all gone");
error_text!(RecvTimeoutError, RecvTimeoutError::Timeout => "timed out waiting to receive",
    RecvTimeoutError::Disconnected => "receiving on an empty channel whose senders are all gone");

macro_rules! opaque_debug {
    ($($ty:ident),*) => {$(
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(..)", stringify!($ty))
            }
        }
    )*};
}

opaque_debug!(SendError, TrySendError, SendTimeoutError);
