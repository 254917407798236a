//! The blocking-looking basics: park, unpark, sleep, yield. Each parks the calling green thread
//! inside a hub and falls back to its `std::thread` twin outside one, so code written against
//! greenhub also works in plain threaded programs.

use crate::hub::with_hub;
use crate::task::GreenThread;
use std::time::{Duration, Instant};

/// Blocks the current green thread until its [`GreenThread::unpark`] is called, or spuriously.
///
/// Like [`std::thread::park`], each `unpark` leaves one token; a `park` that finds a token takes
/// it and returns at once. Callers loop on their own condition. Outside a hub this *is*
/// `std::thread::park`.
///
/// A green thread cancelled with [`JoinHandle::cancel`](crate::JoinHandle::cancel) (or whose
/// [`timeout`](crate::timeout) expired) unwinds here, on the way in; a cancel that arrives while
/// it is parked wakes it, and the next `park` unwinds.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// greenhub::run(|| {
///     let done = Rc::new(Cell::new(false));
///     let me = greenhub::current();
///     let flag = done.clone();
///     greenhub::spawn(move || {
///         flag.set(true);
///         me.unpark();
///     });
///     while !done.get() {
///         greenhub::park();
///     }
/// });
/// ```
pub fn park() {
    if with_hub(|hub| hub.park()).is_none() {
        park_os_thread(None);
    }
}

/// `std::thread::park` (with a deadline), cut short by a `timeout` scope: an expired scope
/// unwinds before parking; one that expires meanwhile ends the park, and the caller's next wait
/// unwinds.
fn park_os_thread(deadline: Option<Instant>) {
    crate::hub::interrupt::check();
    park_os_thread_raw(deadline);
}

/// Parks the current green thread (or OS thread), which just joined a `sync` wait list, until
/// woken or `deadline`, without checking for cancellation or an expired scope (the caller
/// checked under its own lock). While it is parked, its hub counts it as waiting on something
/// any thread may do.
pub(crate) fn park_raw_in_wait_list(deadline: Option<Instant>) {
    if with_hub(|hub| hub.park_in_wait_list(deadline)).is_none() {
        park_os_thread_raw(deadline);
    }
}

/// `park_os_thread` that is not a cancellation point (the caller checked already).
pub(crate) fn park_os_thread_raw(deadline: Option<Instant>) {
    match crate::hub::interrupt::os_deadline(deadline) {
        Some(until) => std::thread::park_timeout(until.saturating_duration_since(Instant::now())),
        None => std::thread::park(),
    }
}

/// Like [`park`], but returns after at most `timeout`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// greenhub::run(|| {
///     let start = Instant::now();
///     greenhub::park_timeout(Duration::from_millis(20));
///     assert!(start.elapsed() >= Duration::from_millis(20) || false /* spurious wakes are allowed */);
/// });
/// ```
pub fn park_timeout(timeout: Duration) {
    let deadline = Instant::now().checked_add(timeout);
    let parked = with_hub(|hub| match deadline {
        Some(deadline) => hub.park_until(deadline),
        None => hub.park(),
    });
    if parked.is_none() {
        park_os_thread(Some(deadline.unwrap_or_else(|| {
            Instant::now() + Duration::from_secs(u32::MAX as u64)
        })));
    }
}

/// Suspends the current green thread for at least `duration`; other green threads run meanwhile.
///
/// It never returns early. A zero duration still yields, as in gevent, so a loop that calls
/// `sleep(Duration::ZERO)` lets others run. Outside a hub this is `std::thread::sleep`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// greenhub::run(|| {
///     let start = Instant::now();
///     greenhub::sleep(Duration::from_millis(10));
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) {
    let Some(deadline) = Instant::now().checked_add(duration) else {
        loop {
            park();
        }
    };
    if duration.is_zero() {
        return sleep_until(deadline); // yields
    }
    if with_hub(|hub| hub.sleep_until_future(deadline)).is_none() {
        sleep_os_thread(deadline);
    }
}

/// Suspends the current green thread until `deadline`; see [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// greenhub::run(|| {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     greenhub::sleep_until(deadline);
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) {
    if with_hub(|hub| hub.sleep_until(deadline)).is_none() {
        sleep_os_thread(deadline);
    }
}

/// [`sleep_until`] on a plain OS thread, cut short by its `timeout` scope.
fn sleep_os_thread(deadline: Instant) {
    crate::hub::interrupt::check();
    let until = crate::hub::interrupt::os_deadline(Some(deadline)).unwrap_or(deadline);
    let now = Instant::now();
    if until > now {
        std::thread::sleep(until - now);
    }
    // A scope that ended the sleep early unwinds here: nothing happened that could be lost.
    crate::hub::interrupt::check();
}

/// Lets every other runnable green thread on this hub run once before continuing. Outside a
/// hub this is `std::thread::yield_now`.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let other = greenhub::spawn(|| "ran");
///     greenhub::yield_now();
///     assert!(other.is_finished());
/// });
/// ```
pub fn yield_now() {
    if with_hub(|hub| hub.yield_now()).is_none() {
        std::thread::yield_now();
    }
}

/// A handle to the current green thread, to [`unpark`](GreenThread::unpark) it from anywhere.
/// Outside a hub it stands for the current OS thread.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let me = greenhub::current();
///     assert_eq!(me.name(), Some("main"));
/// });
/// ```
pub fn current() -> GreenThread {
    GreenThread::current()
}

/// The number of hubs in the current runtime, or `None` outside one.
///
/// # Examples
///
/// ```
/// let rt = greenhub::Runtime::builder().hubs(3).build().unwrap();
/// rt.run(|| assert_eq!(greenhub::hub_count(), Some(3)));
/// assert_eq!(greenhub::hub_count(), None);
/// ```
pub fn hub_count() -> Option<usize> {
    with_hub(|hub| hub.runtime.hubs.len())
}

/// The index of the hub running the current green thread, or `None` outside one. The main
/// green thread runs on hub 0.
///
/// # Examples
///
/// ```
/// greenhub::run(|| assert_eq!(greenhub::current_hub(), Some(0)));
/// ```
pub fn current_hub() -> Option<usize> {
    with_hub(|hub| hub.index())
}
