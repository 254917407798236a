//! Handing a value straight to a parked receiver: the giver writes it into a slot on the
//! receiver's own stack and wakes it, and the receiver, once woken, takes it from there without
//! locking the channel again.
//!
//! ```text
//!   receiver                                   giver (any hub or OS thread)
//!   --------                                   -----
//!   lock; nothing to take;
//!   join the wait list with &slot; unlock
//!   park                                       lock; take the receiver off the list
//!     .                                        slot.value = v; filled.store(true, Release)
//!     .                                        unlock; wake the receiver
//!   filled.load(Acquire)? -> take v, return    (never touches the slot again)
//!   else: lock; leave the list; if it had been taken off meanwhile, `filled` is set now
//!         (the giver fills under the same lock) or it was a wake without a value.
//! ```
//!
//! The slot outlives every access of the giver: the giver reaches it only while holding the
//! lock and only after taking the receiver off the list, and the receiver leaves its stack frame
//! only after it has seen `filled` (the giver's last access) or, under the lock, found itself
//! still on the list (so no giver holds the slot) or taken off without a value (so its giver is
//! gone). A receiver that unwinds out of its park with a value in the slot puts the value back
//! (see the channel's receive). Model-checked with loom below.

use crate::loom::{AtomicBool, Ordering, UnsafeCell};
use crate::task::Unpark;
use std::ptr::NonNull;

/// Where a giver leaves a value for one parked receiver.
pub(crate) struct Slot<T> {
    filled: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Slot<T> {
        Slot {
            filled: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// The receiver's side: the value a giver left, if one did. Without the lock right after a
    /// wake; under it (or after it) once the receiver knows it was taken off its list.
    #[inline]
    pub(crate) fn take_given(&self) -> Option<T> {
        if !self.filled.load(Ordering::Acquire) {
            return None;
        }
        self.filled.store(false, Ordering::Relaxed);
        // SAFETY: `filled` was set by the giver after its write, which that Acquire load orders
        // before this read, and the giver never touches the slot again; the receiver is the only
        // one left using it.
        self.value.with_mut(|value| unsafe { (*value).take() })
    }
}

/// A waiter on a channel's receive list: who to wake and, for a plain receive, the slot a giver
/// may fill. A `Select` arm has no slot: it is woken and takes a queued value itself.
pub(crate) struct Receiving<T, W> {
    pub(crate) who: W,
    slot: Option<NonNull<Slot<T>>>,
}

// SAFETY: the slot pointer is only dereferenced under the protocol in the module doc (by a
// giver holding the lock, or by the receiver that owns the slot), and it carries a `T` from the
// giver's thread to the receiver's, as sending `T` itself would: `Send` when `T` and `W` are.
unsafe impl<T: Send, W: Send> Send for Receiving<T, W> {}

impl<T, W: Unpark> Receiving<T, W> {
    /// A plain receiver whose value may be given into `slot`. The slot must stay in place until
    /// the receiver has left the list or taken what was given (see the module doc).
    pub(crate) fn with_slot(who: W, slot: &Slot<T>) -> Self {
        Receiving {
            who,
            slot: Some(NonNull::from(slot)),
        }
    }

    /// A waiter that takes a queued value itself once woken.
    pub(crate) fn without_slot(who: W) -> Self {
        Receiving { who, slot: None }
    }

    pub(crate) fn has_slot(&self) -> bool {
        self.slot.is_some()
    }

    /// The giver's side, under the lock, with this waiter just taken off its list: leaves
    /// `value` in its slot and wakes it. Gives the value back if there is no slot, or when the
    /// receiver can never run again (its hub stopped for good), without touching the slot.
    pub(crate) fn give(self, value: T) -> Result<(), T> {
        let Some(slot) = self.slot else {
            return Err(value);
        };
        if !self.who.can_run() {
            return Err(value);
        }
        // SAFETY: the receiver was on the list until now and we hold its lock, so its slot is
        // still in place and it does not read it before `filled` is set (module doc).
        let slot = unsafe { slot.as_ref() };
        // SAFETY: as above: nobody else reads or writes the value until `filled` is set.
        slot.value.with_mut(|v| unsafe { *v = Some(value) });
        slot.filled.store(true, Ordering::Release);
        // The slot may be gone from here on. Should the hub have stopped meanwhile, the value
        // stays with the receiver it was given to, which the runtime gave up (its stack leaks).
        self.who.unpark();
        Ok(())
    }
}

impl<T, W: Unpark> Unpark for Receiving<T, W> {
    fn unpark(&self) {
        self.who.unpark()
    }

    fn wake_if_alive(&self) -> bool {
        self.who.wake_if_alive()
    }

    fn can_run(&self) -> bool {
        self.who.can_run()
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::sync::state_lock::StateLock;
    use crate::sync::waiters::{lock, WaitList};
    use ::loom::sync::Arc;
    use ::loom::thread;

    struct Channel {
        queue: Vec<u32>,
        receivers: WaitList<Receiving<u32, thread::Thread>>,
        closed: bool,
    }

    fn new_channel() -> Arc<StateLock<Channel>> {
        Arc::new(StateLock::new(Channel {
            queue: Vec::new(),
            receivers: WaitList::default(),
            closed: false,
        }))
    }

    /// The channel's send: hand the value to the first parked receiver, else queue it.
    fn send(channel: &StateLock<Channel>, value: u32) {
        let mut state = lock(channel);
        let value = match state.receivers.pop_first() {
            Some(receiver) => match receiver.give(value) {
                Ok(()) => return,
                Err(value) => value,
            },
            None => value,
        };
        state.queue.push(value);
    }

    /// The channel's receive, as `Channel::recv_until` does it; `None` once closed and empty.
    fn recv(channel: &StateLock<Channel>) -> Option<u32> {
        let slot = Slot::new();
        loop {
            let id = {
                let mut state = lock(channel);
                if let Some(value) = state.queue.pop() {
                    return Some(value);
                }
                if state.closed {
                    return None;
                }
                state
                    .receivers
                    .add(Receiving::with_slot(thread::current(), &slot))
            };
            thread::park();
            if let Some(value) = slot.take_given() {
                return Some(value);
            }
            let chosen = !lock(channel).receivers.remove(id);
            if chosen {
                if let Some(value) = slot.take_given() {
                    return Some(value);
                }
            }
        }
    }

    /// A value sent while the receiver parks is received exactly once, whether it was given
    /// into the slot or queued, also when the receiver wakes spuriously while it is given; a
    /// close that wakes the receiver without a value does not lose it.
    #[test]
    fn loom_a_value_given_to_a_parked_receiver_arrives_once() {
        crate::loom::model(|| {
            let channel = new_channel();
            let receiver = {
                let channel = channel.clone();
                thread::spawn(move || {
                    let first = recv(&channel);
                    let second = recv(&channel);
                    (first, second)
                })
            };
            // A spurious wake, so that the receiver may look at its slot while the giver fills
            // it, with no unpark between them to order the two.
            let giver = {
                let channel = channel.clone();
                thread::spawn(move || send(&channel, 1))
            };
            receiver.thread().unpark();
            giver.join().unwrap();
            {
                let mut state = lock(&channel);
                state.closed = true;
                state.receivers.wake_all();
            }
            let (first, second) = receiver.join().unwrap();
            assert_eq!(first, Some(1));
            assert_eq!(second, None);
        });
    }

    /// Two receivers, two values from two senders: each value reaches exactly one receiver.
    #[test]
    fn loom_two_givers_two_receivers_each_value_once() {
        crate::loom::model(|| {
            let channel = new_channel();
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let channel = channel.clone();
                    thread::spawn(move || recv(&channel).expect("a value each"))
                })
                .collect();
            let sender = {
                let channel = channel.clone();
                thread::spawn(move || send(&channel, 2))
            };
            send(&channel, 1);
            sender.join().unwrap();
            let mut got: Vec<u32> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
            got.sort();
            assert_eq!(got, [1, 2]);
        });
    }
}
