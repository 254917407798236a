//! Join handles: how a green thread's result (or panic, or cancellation) reaches whoever waits.

use crate::hub::Cancelled;
use crate::task::{Task, Unparker};
use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const COMPLETE: u8 = 1;
const WAITING: u8 = 2;
const DETACHED: u8 = 4;

/// Where a finished green thread leaves its outcome.
///
/// # Invariant
/// `result` is written only by the green thread before it sets `COMPLETE`, and read only by the
/// one side that owns it afterwards: the `JoinHandle` if it still exists when `COMPLETE` is set,
/// otherwise the finishing green thread itself (after seeing `DETACHED`). `waiter` is written only
/// by the joiner before it sets `WAITING`, and taken only by the finishing green thread after it
/// saw `WAITING`, or by the packet's destructor.
pub(crate) struct Packet<T> {
    state: AtomicU8,
    result: UnsafeCell<Option<Result<T, JoinError>>>,
    waiter: UnsafeCell<Option<Unparker>>,
}

// SAFETY: access to the cells follows the state protocol above, so no two threads touch a cell
// at once; `T` crosses threads only when `T: Send`.
unsafe impl<T: Send> Send for Packet<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new() -> Packet<T> {
        Packet {
            state: AtomicU8::new(0),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Called once, by the green thread, as the last thing it does.
    pub(crate) fn complete(&self, outcome: Result<T, JoinError>, task: &Task) {
        // SAFETY: before COMPLETE is set only this green thread touches `result`.
        unsafe { *self.result.get() = Some(outcome) };
        let previous = self.state.fetch_or(COMPLETE, Ordering::AcqRel);
        if previous & WAITING != 0 {
            // SAFETY: the joiner wrote `waiter` before setting WAITING and never touches it again.
            if let Some(waiter) = unsafe { (*self.waiter.get()).take() } {
                waiter.unpark();
            }
        }
        if previous & DETACHED != 0 {
            // SAFETY: the handle is gone, so the outcome is ours to drop (on this, its own hub).
            let outcome = unsafe { (*self.result.get()).take() };
            report_unjoined(outcome, task);
        }
    }

    fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Takes the outcome once `COMPLETE` has been observed by the handle's owner; `None` when
    /// it was already taken by `join`.
    fn take(&self) -> Option<Result<T, JoinError>> {
        // SAFETY: COMPLETE is set and the handle (our caller) still exists, so the outcome
        // belongs to it alone.
        unsafe { (*self.result.get()).take() }
    }

    /// Waits for the outcome, parking the current green thread (or OS thread).
    pub(crate) fn wait(&self) -> Result<T, JoinError> {
        if !self.is_complete() {
            // SAFETY: only the joiner writes `waiter`, and only before setting WAITING.
            unsafe { *self.waiter.get() = Some(Unparker::current()) };
            let previous = self.state.fetch_or(WAITING, Ordering::AcqRel);
            while previous & COMPLETE == 0 && !self.is_complete() {
                crate::park();
            }
        }
        self.take().expect("a green thread's outcome is taken once")
    }

    /// The handle is dropped without joining.
    fn detach(&self, task: &Task) {
        let previous = self.state.fetch_or(DETACHED, Ordering::AcqRel);
        if previous & COMPLETE != 0 {
            report_unjoined(self.take(), task);
        }
    }
}

fn report_unjoined<T>(outcome: Option<Result<T, JoinError>>, task: &Task) {
    if let Some(Err(JoinError {
        repr: Repr::Panicked(payload),
    })) = outcome
    {
        eprintln!(
            "greenhub: green thread '{}' (id {}) panicked and nobody joined it: {}",
            task.name().unwrap_or("<unnamed>"),
            task.id(),
            panic_message(&*payload)
        );
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

/// Turns what a green thread's root caught into the outcome its joiner sees.
pub(crate) fn outcome_of<T>(result: std::thread::Result<T>) -> Result<T, JoinError> {
    result.map_err(|payload| {
        if payload.is::<Cancelled>() {
            JoinError::cancelled()
        } else {
            JoinError {
                repr: Repr::Panicked(payload),
            }
        }
    })
}

/// Owns the right to join a green thread: to wait for its value, learn that it panicked or was
/// cancelled, or cancel it.
///
/// Dropping a `JoinHandle` detaches the green thread: it keeps running, and if it panics the
/// panic is printed to stderr with its name, since nobody else will see it.
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
    packet: Arc<Packet<T>>,
    /// `None` only after `join` handed the header back for reuse.
    task: Option<Arc<Task>>,
}

/// Hands a joined green thread's header back to its hub for reuse.
fn recycle(task: Arc<Task>) {
    let _ = crate::hub::with_hub(|hub| hub.recycle_task(task));
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(packet: Arc<Packet<T>>, task: Arc<Task>) -> JoinHandle<T> {
        JoinHandle {
            packet,
            task: Some(task),
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
        // If the wait unwinds (the joiner was cancelled), `drop` detaches as usual.
        let outcome = self.packet.wait();
        if let Some(task) = self.task.take() {
            recycle(task);
        }
        outcome
    }

    /// Cancels the green thread: at its next park point (any blocking-looking call, `park`,
    /// `sleep`, `yield_now`) it unwinds, running its destructors, and [`join`](Self::join)
    /// reports [`JoinError::is_cancelled`]. A green thread cancelled before it started never
    /// runs. Cancelling a finished green thread does nothing.
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
        self.packet.is_complete()
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
            self.packet.detach(task);
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
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// When the green thread was cancelled rather than panicking; see
    /// [`try_into_panic`](Self::try_into_panic).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("the green thread was cancelled, it did not panic")
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
