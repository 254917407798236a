//! The join packet: where a finished green thread leaves its outcome for whoever joins it. A small
//! lock-free state machine, model-checked with loom (see `crate::loom`).
//!
//! ```text
//!   green thread                 state bits                 JoinHandle
//!   ------------                 ----------                 ----------
//!   write result ─► set COMPLETE ──────────────────────────► join: saw COMPLETE ─► take result
//!                   saw WAITING? wake the waiter ◄─ WAITING ◄─ join: store waiter, set WAITING,
//!                   saw DETACHED? the result is  ◄─ DETACHED ◄─ drop: set DETACHED   park
//!                   ours to drop
//! ```
//!
//! The packet lives inside the green thread's header ([`Task`](super::Task)), which the hub
//! recycles, so a spawn allocates nothing for it. The header is the same type for every green
//! thread whatever its result type, so the outcome is stored type-erased: inline when it fits
//! in [`INLINE_WORDS`] words (a `Result<T, JoinError>` for any `T` up to two words), boxed
//! otherwise. Every method that touches the outcome is therefore `unsafe`, with one contract:
//! every outcome put into or taken out of a packet since its last [`reset`](Packet::reset)
//! has the same type. The join handle and the green thread's root are made together for one
//! result type, and they are the only callers.

use crate::loom::{AtomicU8, Ordering, UnsafeCell};
use crate::task::Unpark;
use std::mem::{align_of, size_of, MaybeUninit};

const COMPLETE: u8 = 1;
const WAITING: u8 = 2;
const DETACHED: u8 = 4;

/// How many machine words of outcome the packet holds without allocating.
const INLINE_WORDS: usize = 4;

/// Room for one outcome of any type (see the module doc).
struct Erased {
    present: bool,
    words: MaybeUninit<[usize; INLINE_WORDS]>,
}

impl Erased {
    const EMPTY: Erased = Erased {
        present: false,
        words: MaybeUninit::uninit(),
    };

    /// Whether an `O` is stored inline rather than boxed.
    const fn fits<O>() -> bool {
        size_of::<O>() <= size_of::<[usize; INLINE_WORDS]>()
            && align_of::<O>() <= align_of::<usize>()
    }

    /// # Safety
    /// The room is empty (`present` is false).
    unsafe fn put<O>(&mut self, outcome: O) {
        debug_assert!(!self.present);
        let at = self.words.as_mut_ptr();
        if Self::fits::<O>() {
            // SAFETY: `O` fits in the words in size and alignment, and the room is empty.
            unsafe { at.cast::<O>().write(outcome) };
        } else {
            // SAFETY: a pointer fits in the words, and the room is empty.
            unsafe { at.cast::<*mut O>().write(Box::into_raw(Box::new(outcome))) };
        }
        self.present = true;
    }

    /// # Safety
    /// If the room holds an outcome, it was put there as an `O`.
    unsafe fn take<O>(&mut self) -> Option<O> {
        if !self.present {
            return None;
        }
        self.present = false;
        let at = self.words.as_mut_ptr();
        Some(if Self::fits::<O>() {
            // SAFETY: an `O` was written inline by `put::<O>`, and `present` was true.
            unsafe { at.cast::<O>().read() }
        } else {
            // SAFETY: `put::<O>` stored the pointer of a leaked `Box<O>`, taken back once.
            unsafe { *Box::from_raw(at.cast::<*mut O>().read()) }
        })
    }
}

/// Where a finished green thread leaves its outcome; `W` wakes the joiner.
///
/// # Invariant
/// `outcome` is written only by the completing side, once, before it sets `COMPLETE`; afterwards
/// it is read only by the one side that owns it: the handle if it still exists when `COMPLETE`
/// is set, otherwise the completing side (which saw `DETACHED`). `waiter` is written only by the
/// joiner before it sets `WAITING`, and taken only by the completing side after it saw
/// `WAITING`, or by [`reset`](Self::reset). The completing side is the green thread itself or,
/// when its hub gives it up (see `Hub::abandon_all`), that hub on the same OS thread after the
/// green thread can no longer run; the two never both complete (`complete` is called at most
/// once).
pub(crate) struct Packet<W> {
    state: AtomicU8,
    outcome: UnsafeCell<Erased>,
    waiter: UnsafeCell<Option<W>>,
}

// SAFETY: access to the cells follows the state protocol above, so no two threads touch a cell
// at once. An outcome reaches another thread only through a join handle, which can itself be
// on another thread only when its result type is `Send` (see `JoinHandle`); the waiter only when
// `W: Send`.
unsafe impl<W: Send> Send for Packet<W> {}
// SAFETY: as above: `&Packet` only gives access under the protocol.
unsafe impl<W: Send> Sync for Packet<W> {}

impl<W: Unpark> Packet<W> {
    pub(crate) fn new() -> Packet<W> {
        Packet {
            state: AtomicU8::new(0),
            outcome: UnsafeCell::new(Erased::EMPTY),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Makes a used packet ready for a new green thread, through exclusive access (the header is
    /// being recycled). An outcome nobody took is leaked, never dropped as a guessed type; the
    /// protocol leaves none behind unless a handle was leaked.
    pub(crate) fn reset(&mut self) {
        self.state = AtomicU8::new(0);
        self.outcome = UnsafeCell::new(Erased::EMPTY);
        self.waiter = UnsafeCell::new(None);
    }

    /// Leaves the outcome, once. Returns it back when the handle was dropped meanwhile: then
    /// nobody will take it and the caller reports and drops it.
    ///
    /// # Safety
    /// Every outcome of this packet has type `O` (see the module doc).
    pub(crate) unsafe fn complete<O>(&self, outcome: O) -> Option<O> {
        // SAFETY: before COMPLETE is set only the completing side touches `outcome`, and it
        // completes once, so the room is empty.
        self.outcome
            .with_mut(|cell| unsafe { (*cell).put(outcome) });
        let previous = self.state.fetch_or(COMPLETE, Ordering::AcqRel);
        if previous & WAITING != 0 {
            // SAFETY: the joiner wrote `waiter` before setting WAITING and never touches it again.
            if let Some(waiter) = self.waiter.with_mut(|cell| unsafe { (*cell).take() }) {
                waiter.unpark();
            }
        }
        if previous & DETACHED != 0 {
            // SAFETY: the handle is gone, so the outcome is the completing side's to drop; it
            // is an `O` by the caller's contract.
            return self.outcome.with_mut(|cell| unsafe { (*cell).take() });
        }
        None
    }

    /// Whether an outcome of type `O` is stored without allocating.
    #[cfg(test)]
    pub(crate) const fn stores_inline<O>() -> bool {
        Erased::fits::<O>()
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Takes the outcome once `COMPLETE` was observed by the handle's owner.
    ///
    /// # Safety
    /// As for [`complete`](Self::complete).
    unsafe fn take<O>(&self) -> Option<O> {
        // SAFETY: COMPLETE is set and the handle (our caller) still exists, so the outcome
        // belongs to it alone; it is an `O` by the caller's contract.
        self.outcome.with_mut(|cell| unsafe { (*cell).take() })
    }

    /// Waits for the outcome as `me()` (asked only if it must wait), calling `park` until it is
    /// there. `park` may unwind (the joiner was cancelled); the handle's drop then detaches.
    ///
    /// # Safety
    /// As for [`complete`](Self::complete).
    pub(crate) unsafe fn wait<O>(&self, me: impl FnOnce() -> W, mut park: impl FnMut()) -> O {
        if !self.is_complete() {
            let me = me();
            // SAFETY: only the joiner writes `waiter`, and only before setting WAITING.
            self.waiter.with_mut(|cell| unsafe { *cell = Some(me) });
            let previous = self.state.fetch_or(WAITING, Ordering::AcqRel);
            if previous & COMPLETE == 0 {
                while !self.is_complete() {
                    park();
                }
            }
        }
        // SAFETY: passed on from the caller.
        unsafe { self.take() }.expect("a green thread's outcome is taken once")
    }

    /// The handle is dropped without joining. Returns the outcome if it was already there, for
    /// the caller to report and drop.
    ///
    /// # Safety
    /// As for [`complete`](Self::complete).
    pub(crate) unsafe fn detach<O>(&self) -> Option<O> {
        let previous = self.state.fetch_or(DETACHED, Ordering::AcqRel);
        if previous & COMPLETE != 0 {
            // SAFETY: passed on from the caller.
            return unsafe { self.take() };
        }
        None
    }
}
/// A packet whose every outcome is an `O`, for the tests and models: its safe methods keep the
/// contract by construction.
#[cfg(test)]
struct OneType<O, W> {
    packet: Packet<W>,
    _outcome: std::marker::PhantomData<O>,
}

#[cfg(test)]
impl<O, W: Unpark> OneType<O, W> {
    fn new() -> Self {
        OneType {
            packet: Packet::new(),
            _outcome: std::marker::PhantomData,
        }
    }

    fn complete(&self, outcome: O) -> Option<O> {
        // SAFETY: every outcome through `OneType<O, _>` is an `O`, and the packet is private.
        unsafe { self.packet.complete(outcome) }
    }

    fn wait(&self, me: impl FnOnce() -> W, park: impl FnMut()) -> O {
        // SAFETY: as in `complete`.
        unsafe { self.packet.wait(me, park) }
    }

    fn detach(&self) -> Option<O> {
        // SAFETY: as in `complete`.
        unsafe { self.packet.detach() }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct NoWaiter;
    impl Unpark for NoWaiter {
        fn unpark(&self) {}
    }

    #[test]
    fn a_detached_packet_hands_the_outcome_back_to_whoever_comes_second() {
        let packet: OneType<u32, NoWaiter> = OneType::new();
        assert_eq!(packet.detach(), None);
        assert_eq!(packet.complete(7), Some(7));

        let packet: OneType<u32, NoWaiter> = OneType::new();
        assert_eq!(packet.complete(8), None);
        assert_eq!(packet.detach(), Some(8));
    }

    #[test]
    fn a_join_after_completion_takes_the_outcome_without_parking() {
        let packet: OneType<u32, NoWaiter> = OneType::new();
        assert_eq!(packet.complete(9), None);
        assert_eq!(packet.wait(|| NoWaiter, || panic!("must not park")), 9);
    }

    /// An outcome too big to sit inline is boxed, comes back whole, and is dropped once.
    #[test]
    fn a_large_outcome_is_boxed_and_dropped_exactly_once() {
        use std::rc::Rc;
        let counted = Rc::new(());
        assert!(!Erased::fits::<([u64; 16], Rc<()>)>());
        let packet: OneType<([u64; 16], Rc<()>), NoWaiter> = OneType::new();
        assert!(packet.complete(([7u64; 16], counted.clone())).is_none());
        let back = packet.detach().expect("complete");
        assert_eq!(back.0, [7; 16]);
        assert_eq!(Rc::strong_count(&counted), 2);
        drop(back);
        assert_eq!(Rc::strong_count(&counted), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use ::loom::sync::atomic::AtomicUsize;
    use ::loom::sync::Arc;
    use ::loom::thread;

    /// Counts drops, so a model can check the outcome is dropped exactly once.
    struct Outcome(Arc<AtomicUsize>);
    impl Drop for Outcome {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A join racing the completion: the joiner gets the outcome and is never left parked.
    #[test]
    fn loom_join_packet_wakes_the_joiner() {
        crate::loom::model(|| {
            let packet: Arc<OneType<u32, thread::Thread>> = Arc::new(OneType::new());
            let finisher = {
                let packet = packet.clone();
                thread::spawn(move || assert!(packet.complete(42).is_none()))
            };
            assert_eq!(packet.wait(thread::current, thread::park), 42);
            finisher.join().unwrap();
        });
    }

    /// A detach racing the completion: the outcome is dropped exactly once, by one side.
    #[test]
    fn loom_join_packet_detach_drops_the_outcome_once() {
        crate::loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let packet: Arc<OneType<Outcome, thread::Thread>> = Arc::new(OneType::new());
            let finisher = {
                let (packet, drops) = (packet.clone(), drops.clone());
                thread::spawn(move || drop(packet.complete(Outcome(drops))))
            };
            drop(packet.detach());
            finisher.join().unwrap();
            drop(packet);
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        });
    }
}
