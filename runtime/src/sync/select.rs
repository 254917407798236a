//! `Select`: wait on several channel operations at once, like Go's `select` or gevent's `wait`.

use super::channel::{
    Channel, Receiver, RecvError, SendError, Sender, Side, TryRecvError, TrySendError,
};
use super::claim::Claim;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One arm of a select: a receive or a send with what to do when it happens.
trait Case<'a, R> {
    /// Performs the operation if it can complete now; the outcome is kept for `then`.
    fn try_complete(&mut self) -> bool;
    /// A sender claimed the select for this arm: takes the value reserved for it (the outcome
    /// is kept for `then`).
    fn complete_claimed(&mut self, claim: &Arc<Claim>) -> bool;
    /// Runs the arm's closure on the kept outcome (after the select stopped watching).
    fn then(&mut self) -> R;
    /// Which channel list to watch: (channel, sending).
    fn watched(&self) -> (&'a dyn Watch, bool);
}

/// The channel operations `Select` needs, with the value type erased.
trait Watch {
    fn watch(&self, side: Side, who: crate::GreenThread, claim: &Arc<Claim>, arm: usize) -> u64;
    fn unwatch(&self, side: Side, id: u64) -> bool;
    fn forward(&self, side: Side);
    fn claimable(&self, select: crate::GreenThreadId);
}

impl<T> Watch for Channel<T> {
    fn watch(&self, side: Side, who: crate::GreenThread, claim: &Arc<Claim>, arm: usize) -> u64 {
        Channel::watch(self, side, who, claim, arm)
    }
    fn claimable(&self, select: crate::GreenThreadId) {
        Channel::claimable(self, select)
    }
    fn unwatch(&self, side: Side, id: u64) -> bool {
        Channel::unwatch(self, side, id)
    }
    fn forward(&self, side: Side) {
        Channel::forward(self, side)
    }
}

/// The list an arm watches: a receive arm that is its select's only arm will take a value it
/// is woken for (on a rendezvous channel it counts as a waiting receiver); one among others may
/// fire another arm instead.
fn side_of(sending: bool, arms: usize) -> Side {
    match (sending, arms) {
        (true, _) => Side::Send,
        (false, 1) => Side::Take,
        (false, _) => Side::Receive,
    }
}

struct RecvCase<'a, T, F> {
    receiver: &'a Receiver<T>,
    outcome: Option<Result<T, RecvError>>,
    then: Option<F>,
}

impl<'a, T, R, F: FnOnce(Result<T, RecvError>) -> R> Case<'a, R> for RecvCase<'a, T, F> {
    fn try_complete(&mut self) -> bool {
        self.outcome = match self.receiver.try_recv() {
            Ok(value) => Some(Ok(value)),
            Err(TryRecvError::Disconnected) => Some(Err(RecvError)),
            Err(TryRecvError::Empty) => None,
        };
        self.outcome.is_some()
    }
    fn complete_claimed(&mut self, claim: &Arc<Claim>) -> bool {
        self.outcome = self.receiver.channel().take_reserved(claim).map(Ok);
        self.outcome.is_some()
    }
    fn then(&mut self) -> R {
        let then = self.then.take().expect("an arm fires once");
        then(self.outcome.take().expect("completed"))
    }
    fn watched(&self) -> (&'a dyn Watch, bool) {
        (self.receiver.channel(), false)
    }
}

struct SendCase<'a, T, F> {
    sender: &'a Sender<T>,
    value: Option<T>,
    outcome: Option<Result<(), SendError<T>>>,
    then: Option<F>,
}

impl<'a, T, R, F: FnOnce(Result<(), SendError<T>>) -> R> Case<'a, R> for SendCase<'a, T, F> {
    fn try_complete(&mut self) -> bool {
        let Some(value) = self.value.take() else {
            return false;
        };
        self.outcome = match self.sender.try_send(value) {
            Ok(()) => Some(Ok(())),
            Err(TrySendError::Disconnected(value)) => Some(Err(SendError(value))),
            Err(TrySendError::Full(value)) => {
                self.value = Some(value);
                None
            }
        };
        self.outcome.is_some()
    }
    fn complete_claimed(&mut self, _claim: &Arc<Claim>) -> bool {
        false // only receive arms are claimed
    }
    fn then(&mut self) -> R {
        let then = self.then.take().expect("an arm fires once");
        then(self.outcome.take().expect("completed"))
    }
    fn watched(&self) -> (&'a dyn Watch, bool) {
        (self.sender.channel(), true)
    }
}

/// Waits until one of several channel operations can complete, performs exactly that one, and
/// returns what its arm returns. When several are ready, the pick is fair: the search starts
/// at a different arm each time.
///
/// # Examples
///
/// ```
/// use greenhub::sync::{channel, Select};
/// use std::time::Duration;
/// greenhub::run(|| {
///     let (numbers_tx, numbers) = channel::<u32>();
///     let (words_tx, words) = channel::<&str>();
///     greenhub::spawn(move || words_tx.send("hello").unwrap());
///     let got = Select::new()
///         .recv(&numbers, |n| format!("number {n:?}"))
///         .recv(&words, |w| format!("word {}", w.unwrap()))
///         .timeout(Duration::from_secs(1), || "nothing".to_string())
///         .wait();
///     assert_eq!(got, "word hello");
///     drop(numbers_tx);
/// });
/// ```
pub struct Select<'a, R> {
    cases: Vec<Box<dyn Case<'a, R> + 'a>>,
    timeout: Option<(Instant, Box<dyn FnOnce() -> R + 'a>)>,
    default: Option<Box<dyn FnOnce() -> R + 'a>>,
}

impl<R> Default for Select<'_, R> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a, R> Select<'a, R> {
    /// A select with no arms yet.
    pub fn new() -> Select<'a, R> {
        Select {
            cases: Vec::new(),
            timeout: None,
            default: None,
        }
    }

    /// An arm that receives from `receiver`; `then` gets the value, or `RecvError` once the
    /// channel is empty and closed.
    pub fn recv<T: 'a>(
        mut self,
        receiver: &'a Receiver<T>,
        then: impl FnOnce(Result<T, RecvError>) -> R + 'a,
    ) -> Self {
        self.cases.push(Box::new(RecvCase {
            receiver,
            outcome: None,
            then: Some(then),
        }));
        self
    }

    /// An arm that sends `value` on `sender` (to a `bounded(0)` channel: when a receiver
    /// waits); `then` gets `Ok`, or the value back once every receiver is gone.
    pub fn send<T: 'a>(
        mut self,
        sender: &'a Sender<T>,
        value: T,
        then: impl FnOnce(Result<(), SendError<T>>) -> R + 'a,
    ) -> Self {
        self.cases.push(Box::new(SendCase {
            sender,
            value: Some(value),
            outcome: None,
            then: Some(then),
        }));
        self
    }

    /// An arm taken when no other is ready within `timeout`.
    pub fn timeout(mut self, timeout: Duration, then: impl FnOnce() -> R + 'a) -> Self {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 40));
        self.timeout = Some((deadline, Box::new(then)));
        self
    }

    /// An arm taken at once when no other is ready: the select never waits.
    pub fn default(mut self, then: impl FnOnce() -> R + 'a) -> Self {
        self.default = Some(Box::new(then));
        self
    }

    /// Performs the first arm that can complete, starting at a different arm each time; returns
    /// its index.
    fn try_any(&mut self) -> Option<usize> {
        let n = self.cases.len();
        let start = crate::hub::next_select_rotation();
        (0..n)
            .map(|i| (start + i) % n.max(1))
            .find(|&i| self.cases[i].try_complete())
    }

    /// Waits for the first arm that can complete, performs it and returns its result.
    ///
    /// A cancellation or an expired [`timeout`](crate::timeout) scope unwinds only while no arm
    /// has completed: an arm that completed (a value received, or sent) always runs.
    ///
    /// # Panics
    ///
    /// With no arm at all and neither a timeout nor a default: it would wait forever.
    pub fn wait(mut self) -> R {
        assert!(
            !self.cases.is_empty() || self.timeout.is_some() || self.default.is_some(),
            "a Select with no arms would wait forever"
        );
        // Arms whose channel chose this select to wake during the last wait.
        let mut woken_for: Vec<usize> = Vec::new();
        // Lets a rendezvous sender hand this select a value while it is parked (made the first
        // time it parks).
        let mut claim: Option<Arc<Claim>> = None;
        loop {
            if let Some(fired) = self.try_any() {
                return self.fire(fired, &woken_for);
            }
            // Nothing is ready, so whatever woke us was taken by someone else: that wake is
            // spent, there is nothing to pass on.
            woken_for.clear();
            if let Some(default) = self.default.take() {
                return default();
            }
            let deadline = self.timeout.as_ref().map(|(deadline, _)| *deadline);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let (_, then) = self.timeout.take().expect("checked");
                return then();
            }
            crate::hub::interrupt::check();
            // Watch every channel, then look again before parking so no wake is missed.
            let claim = claim.get_or_insert_with(Arc::default);
            let watching = Watching::new(&self.cases, claim);
            if let Some(fired) = self.try_any() {
                let woken_for = watching.stop();
                return self.fire(fired, &woken_for);
            }
            watching.offer(claim);
            super::waiters::park_raw_until(deadline);
            let claimed = claim.withdraw();
            woken_for = watching.stop();
            if let Some(arm) = claimed {
                // A sender handed this select a value on `arm`: that arm fires, whatever else
                // happened meanwhile (the send has already returned Ok).
                let taken = self.cases[arm].complete_claimed(claim);
                debug_assert!(taken, "a claimed arm finds its value reserved");
                return self.fire(arm, &woken_for);
            }
        }
    }

    /// Runs arm `fired`, after passing on the wakes this select took from the other arms'
    /// channels: their items may still be there, and another waiter may need them.
    fn fire(mut self, fired: usize, woken_for: &[usize]) -> R {
        let arms = self.cases.len();
        for &arm in woken_for.iter().filter(|&&arm| arm != fired) {
            let (channel, sending) = self.cases[arm].watched();
            channel.forward(side_of(sending, arms));
        }
        self.cases[fired].then()
    }
}

/// The watches a waiting select holds on its arms' channels.
struct Watching<'a> {
    watches: Vec<(&'a dyn Watch, Side, u64)>,
}

impl<'a> Watching<'a> {
    fn new<R>(cases: &[Box<dyn Case<'a, R> + 'a>], claim: &Arc<Claim>) -> Watching<'a> {
        let me = crate::current();
        Watching {
            watches: cases
                .iter()
                .enumerate()
                .map(|(arm, case)| {
                    let (channel, sending) = case.watched();
                    let side = side_of(sending, cases.len());
                    (channel, side, channel.watch(side, me.clone(), claim, arm))
                })
                .collect(),
        }
    }

    /// The select is about to park: its receive arms among several can be claimed now, and a
    /// rendezvous sender waiting on one of their channels may want to know.
    fn offer(&self, claim: &Claim) {
        claim.offer();
        let mut me = None;
        for (channel, side, _) in &self.watches {
            if *side == Side::Receive {
                let me = *me.get_or_insert_with(|| crate::current().id());
                channel.claimable(me);
            }
        }
    }

    /// Stops watching; returns the arms whose channel had chosen us to wake.
    fn stop(mut self) -> Vec<usize> {
        std::mem::take(&mut self.watches)
            .into_iter()
            .enumerate()
            .filter(|(_, (channel, side, id))| !channel.unwatch(*side, *id))
            .map(|(arm, _)| arm)
            .collect()
    }
}

impl Drop for Watching<'_> {
    /// Unwinding out of the wait: a wake a channel spent on us goes to its next waiter.
    fn drop(&mut self) {
        for (channel, side, id) in &self.watches {
            if !channel.unwatch(*side, *id) {
                channel.forward(*side);
            }
        }
    }
}
