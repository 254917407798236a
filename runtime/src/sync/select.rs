//! `Select`: wait on several channel operations at once, like Go's `select` or gevent's `wait`.

use super::channel::{Channel, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// One arm of a select: a receive or a send with what to do when it happens.
trait Case<'a, R> {
    /// Performs the operation if it can complete now, and returns the arm's result.
    fn try_fire(&mut self) -> Option<R>;
    /// Which channel list to watch: (channel, sending).
    fn watched(&self) -> (&'a dyn Watch, bool);
}

/// The channel operations `Select` needs, with the value type erased.
trait Watch {
    fn watch(&self, sending: bool, who: crate::GreenThread) -> u64;
    fn unwatch(&self, sending: bool, id: u64) -> bool;
    fn forward(&self, sending: bool);
}

impl<T> Watch for Channel<T> {
    fn watch(&self, sending: bool, who: crate::GreenThread) -> u64 {
        Channel::watch(self, sending, who)
    }
    fn unwatch(&self, sending: bool, id: u64) -> bool {
        Channel::unwatch(self, sending, id)
    }
    fn forward(&self, sending: bool) {
        Channel::forward(self, sending)
    }
}

struct RecvCase<'a, T, F> {
    receiver: &'a Receiver<T>,
    then: Option<F>,
}

impl<'a, T, R, F: FnOnce(Result<T, RecvError>) -> R> Case<'a, R> for RecvCase<'a, T, F> {
    fn try_fire(&mut self) -> Option<R> {
        let outcome = match self.receiver.try_recv() {
            Ok(value) => Ok(value),
            Err(TryRecvError::Disconnected) => Err(RecvError),
            Err(TryRecvError::Empty) => return None,
        };
        self.then.take().map(|then| then(outcome))
    }
    fn watched(&self) -> (&'a dyn Watch, bool) {
        (self.receiver.channel(), false)
    }
}

struct SendCase<'a, T, F> {
    sender: &'a Sender<T>,
    value: Option<T>,
    then: Option<F>,
}

impl<'a, T, R, F: FnOnce(Result<(), SendError<T>>) -> R> Case<'a, R> for SendCase<'a, T, F> {
    fn try_fire(&mut self) -> Option<R> {
        let value = self.value.take()?;
        let outcome = match self.sender.try_send(value) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(value)) => Err(SendError(value)),
            Err(TrySendError::Full(value)) => {
                self.value = Some(value);
                return None;
            }
        };
        self.then.take().map(|then| then(outcome))
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

thread_local! {
    static ROTATION: Cell<usize> = const { Cell::new(0) };
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

    fn try_any(&mut self) -> Option<(usize, R)> {
        let n = self.cases.len();
        let start = ROTATION.with(|r| {
            let value = r.get();
            r.set(value.wrapping_add(1));
            value
        });
        (0..n)
            .map(|i| (start + i) % n.max(1))
            .find_map(|i| self.cases[i].try_fire().map(|r| (i, r)))
    }

    /// Waits for the first arm that can complete, performs it and returns its result.
    ///
    /// # Panics
    ///
    /// With no arm at all and neither a timeout nor a default: it would wait forever.
    pub fn wait(mut self) -> R {
        assert!(
            !self.cases.is_empty() || self.timeout.is_some() || self.default.is_some(),
            "a Select with no arms would wait forever"
        );
        loop {
            if let Some((_, result)) = self.try_any() {
                return result;
            }
            if let Some(default) = self.default.take() {
                return default();
            }
            let deadline = self.timeout.as_ref().map(|(deadline, _)| *deadline);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let (_, then) = self.timeout.take().expect("checked");
                return then();
            }
            // Watch every channel, then look again before parking so no wake is missed.
            let mut watching = Watching {
                watches: self
                    .cases
                    .iter()
                    .map(|case| {
                        let (channel, sending) = case.watched();
                        (channel, sending, channel.watch(sending, crate::current()))
                    })
                    .collect(),
                fired: None,
            };
            if let Some((i, result)) = self.try_any() {
                watching.fired = Some(i);
                return result;
            }
            super::waiters::park_until(deadline);
            if let Some((i, result)) = self.try_any() {
                watching.fired = Some(i);
                return result;
            }
        }
    }
}

/// The watches a waiting select holds; released however the wait ends.
struct Watching<'a> {
    watches: Vec<(&'a dyn Watch, bool, u64)>,
    fired: Option<usize>,
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        for (i, (channel, sending, id)) in self.watches.iter().enumerate() {
            let still_watching = channel.unwatch(*sending, *id);
            // A wake was spent on an arm that did not fire (or the wait was abandoned, by
            // cancellation or a timeout scope): hand it on. A spurious wake is harmless; a lost
            // one is not.
            if !still_watching && self.fired != Some(i) {
                channel.forward(*sending);
            }
        }
    }
}
