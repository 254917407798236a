//! Join handles: how a green thread's result (or panic, or cancellation) reaches whoever waits.
//!
//! The outcome travels through the join packet in the green thread's header (see
//! `crate::task::Packet`), which stores it type-erased. The functions here are the only ones
//! that put or take an outcome, always as the `Outcome<T>` of the one result type `T` that the
//! green thread's root and its [`JoinHandle`] were made for.

use crate::hub::interrupt::panic_message;
use crate::task::{Cancelled, Task, Unparker};
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// What a green thread leaves for its joiner: its value, panic or cancellation.
type Outcome<T> = Result<T, JoinError>;

/// Called once, by the green thread, as the last thing it does.
///
/// # Safety
/// `task` was spawned for a result of type `T`: its root and its handle say so.
pub(crate) unsafe fn complete<T>(task: &Task, outcome: Outcome<T>) {
    // SAFETY: every outcome of this packet is an `Outcome<T>` (the caller's contract).
    if let Some(unjoined) = unsafe { task.join_packet().complete(outcome) } {
        report_unjoined(Some(unjoined), task);
    }
}

/// Completes the join of a green thread its hub gave up, as "cancelled", unless it completed
/// already.
///
/// # Safety
/// As for [`complete`].
pub(crate) unsafe fn abandon<T>(task: &Task) {
    if !task.join_packet().is_complete() {
        // SAFETY: as in `complete`. A detached "cancelled" outcome holds nothing to report.
        drop(unsafe {
            task.join_packet()
                .complete::<Outcome<T>>(Err(JoinError::cancelled()))
        });
    }
}

/// Reports a panic nobody will join, then drops the outcome (whose destructor may panic in
/// turn: in a green thread's root that aborts, as std does for a thread result).
fn report_unjoined<T>(outcome: Option<Outcome<T>>, task: &Task) {
    if let Some(Err(JoinError {
        repr: Repr::Panicked(payload),
    })) = &outcome
    {
        crate::sys::report(&format!(
            "greenhub: green thread '{}' (id {}) panicked and nobody joined it: {}\n",
            task.name().unwrap_or("<unnamed>"),
            task.id(),
            panic_message(&**payload)
        ));
    }
    drop(outcome);
}

/// Turns what a green thread's root caught into the outcome its joiner sees.
pub(crate) fn outcome_of<T>(result: std::thread::Result<T>) -> Outcome<T> {
    result.map_err(JoinError::from_payload)
}

/// Owns the right to join a green thread: to wait for its value, learn that it panicked or was
/// cancelled, or cancel it.
///
/// Dropping a `JoinHandle` detaches the green thread: it keeps running, and if it panics the
/// panic is printed to stderr with its name, since nobody else will see it.
///
/// A handle moves to (or is shared with) another thread only when its value could, as with
/// std's handles; a green thread whose value is not `Send` is joined on its own hub:
///
/// ```compile_fail
/// fn moved_to_another_thread<S: Send>(_: S) {}
/// greenhub::run(|| moved_to_another_thread(greenhub::spawn(|| std::rc::Rc::new(1))));
/// ```
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let handle = greenhub::spawn(|| 6 * 7);
///     assert_eq!(handle.join().unwrap(), 42);
/// });
/// ```
pub struct JoinHandle<T> {
    /// The green thread's header, which holds the join packet. `None` only after `join`
    /// handed the header back for reuse.
    task: Option<Arc<Task>>,
    /// Owns the result to come. `Mutex<T>` is `Send` and `Sync` exactly when `T` is `Send`:
    /// a handle may cross threads, or be shared, only when its result could.
    _result: PhantomData<Mutex<T>>,
}

/// Hands a joined green thread's header back to its hub for reuse.
fn recycle(task: Arc<Task>) {
    let _ = crate::hub::with_hub(|hub| hub.recycle_task(task));
}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `task` was spawned for a result of type `T` (see [`complete`]).
    pub(crate) unsafe fn new(task: Arc<Task>) -> JoinHandle<T> {
        JoinHandle {
            task: Some(task),
            _result: PhantomData,
        }
    }

    fn header(&self) -> &Arc<Task> {
        self.task
            .as_ref()
            .expect("the header is only taken by join, which consumes the handle")
    }

    pub(crate) fn key(&self) -> u32 {
        self.header().key()
    }

    /// Waits for the green thread to finish and returns its value.
    ///
    /// Inside a hub this parks only the calling green thread; on a plain OS thread it blocks
    /// that thread.
    ///
    /// # Errors
    ///
    /// [`JoinError`] when the green thread panicked (with the payload) or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let handle = greenhub::spawn(|| -> u32 { panic!("boom") });
    ///     let err = handle.join().unwrap_err();
    ///     assert!(err.is_panic());
    /// });
    /// ```
    pub fn join(mut self) -> Result<T, JoinError> {
        // If the wait unwinds (the joiner was cancelled), `drop` detaches as usual. A join
        // that finds the outcome there returns it, even if the joiner was cancelled meanwhile.
        let packet = self.header().join_packet();
        // SAFETY: the handle was made for green threads whose outcome is an `Outcome<T>` (see
        // `new`).
        let outcome = unsafe { packet.wait::<Outcome<T>>(Unparker::current, crate::park) };
        if let Some(task) = self.task.take() {
            recycle(task);
        }
        outcome
    }

    /// Cancels the green thread: at its next park point (any blocking-looking call, `park`,
    /// `sleep`, `yield_now`) it unwinds, running its destructors, and [`join`](Self::join)
    /// reports [`JoinError::is_cancelled`]. A green thread that is parked is woken: if the
    /// operation it waits for can complete right then (data arrived, a value is there), it
    /// completes and returns its result, and the unwind happens at the park after. A green
    /// thread cancelled before it started never runs. Cancelling a finished green thread does
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// greenhub::run(|| {
    ///     let sleeper = greenhub::spawn(|| greenhub::sleep(Duration::from_secs(3600)));
    ///     greenhub::yield_now(); // let it start sleeping
    ///     sleeper.cancel();
    ///     assert!(sleeper.join().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) {
        let task = self.header();
        task.request_cancel();
        task.wake();
    }

    /// Something that can cancel this green thread later, kept by pools and servers.
    pub(crate) fn canceller(&self) -> Canceller {
        Canceller(self.header().clone())
    }

    /// Whether the green thread has finished (returned, panicked or been cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let handle = greenhub::spawn(|| ());
    ///     assert!(!handle.is_finished());
    ///     greenhub::yield_now();
    ///     assert!(handle.is_finished());
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().join_packet().is_complete()
    }

    /// A handle that can wake the green thread, like [`current`](crate::current) from inside it.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let handle = greenhub::Builder::new().name("worker".into()).spawn(|| ()).unwrap();
    ///     assert_eq!(handle.thread().name(), Some("worker"));
    /// });
    /// ```
    pub fn thread(&self) -> crate::GreenThread {
        crate::GreenThread::of_task(self.header().clone())
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            // SAFETY: as in `join`.
            report_unjoined(unsafe { task.join_packet().detach::<Outcome<T>>() }, task);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.header().id())
            .field("name", &self.header().name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Cancels one green thread; see [`JoinHandle::cancel`].
pub(crate) struct Canceller(Arc<Task>);

impl Canceller {
    pub(crate) fn cancel(&self) {
        self.0.request_cancel();
        self.0.wake();
    }
}

/// Why [`JoinHandle::join`] returned no value: the green thread panicked or was cancelled.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let err = greenhub::spawn(|| -> () { panic!("lost") }).join().unwrap_err();
///     assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "lost");
/// });
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panicked(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    /// What an unwind with `payload` means to a joiner: cancellation, or a panic.
    pub(crate) fn from_payload(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        if payload.is::<Cancelled>() {
            JoinError::cancelled()
        } else {
            JoinError {
                repr: Repr::Panicked(payload),
            }
        }
    }

    /// True when the green thread was cancelled with [`JoinHandle::cancel`] (or by runtime
    /// shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True when the green thread panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic payload, to inspect or to continue the panic with
    /// [`resume_unwind`](Self::resume_unwind) (or std's).
    ///
    /// # Panics
    ///
    /// When the green thread was cancelled rather than panicking; see
    /// [`try_into_panic`](Self::try_into_panic).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("the green thread was cancelled, it did not panic")
    }

    /// Continues the green thread's panic (or cancellation) in the caller, as
    /// `std::panic::resume_unwind(err.into_panic())` would. Prefer it inside a green thread:
    /// greenhub then knows the caller unwinds (panic hooks do not see `resume_unwind`), which
    /// matters if a destructor on the way parks while a neighbour green thread of the same hub
    /// is suspended in the middle of an unwind of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let outer = greenhub::spawn(|| {
    ///         let inner = greenhub::spawn(|| -> () { panic!("deep") });
    ///         if let Err(err) = inner.join() {
    ///             err.resume_unwind();
    ///         }
    ///     });
    ///     assert!(outer.join().unwrap_err().is_panic());
    /// });
    /// ```
    pub fn resume_unwind(self) -> ! {
        let payload: Box<dyn Any + Send> = match self.repr {
            Repr::Panicked(payload) => payload,
            Repr::Cancelled => Box::new(Cancelled),
        };
        crate::hub::interrupt::raise(payload)
    }

    /// The panic payload, or the error itself when the green thread was cancelled.
    ///
    /// # Errors
    ///
    /// Returns `self` when the green thread was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panicked(payload) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("green thread was cancelled"),
            Repr::Panicked(payload) => {
                write!(f, "green thread panicked: {}", panic_message(&**payload))
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panicked(payload) => {
                write!(f, "JoinError::Panicked({:?})", panic_message(&**payload))
            }
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Packet;

    #[test]
    fn common_results_are_stored_without_allocating() {
        assert!(Packet::<Unparker>::stores_inline::<Outcome<()>>());
        assert!(Packet::<Unparker>::stores_inline::<Outcome<u64>>());
        assert!(Packet::<Unparker>::stores_inline::<Outcome<String>>());
        assert!(Packet::<Unparker>::stores_inline::<
            Outcome<std::io::Result<usize>>,
        >());
    }
}
