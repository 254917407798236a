//! The bridge from futures to green threads: [`block_on`] polls a future on the calling green
//! thread and parks it between polls; the future's waker unparks it.
//!
//! ```text
//!   block_on(fut): poll ─ Ready(v) ─────────────────────────────► v
//!                   │ Pending
//!                   └─ park until `woken` (a cancellation point) ─► poll again
//!   waker.wake() from any thread: set `woken`; first since the last poll? unpark the green thread
//! ```

use crate::task::GreenThread;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// What a [`block_on`] waker shares with the green thread that waits.
struct Signal {
    /// Set by a wake, cleared by the waiter before it polls again.
    woken: AtomicBool,
    /// The waiting green thread (or OS thread); `None` once `block_on` returned, so a waker
    /// kept after that (it may be called any time, or never) wakes nobody.
    thread: Mutex<Option<GreenThread>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Only the first wake since the waiter last looked needs to unpark it.
        if !self.woken.swap(true, Ordering::AcqRel) {
            let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(thread) = &*thread {
                thread.unpark();
            }
        }
    }
}

/// Forgets the waiting green thread when `block_on` ends, however it ends.
struct Forget<'a>(&'a Signal);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let thread = self
            .0
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(thread);
    }
}

/// Runs `future` to completion on the calling green thread and returns its output, so a
/// library written with `async` that needs no particular executor (no tokio reactor or timer
/// inside) can be used from blocking-style code.
///
/// Between polls the green thread parks; the future's waker unparks it, and may be called from
/// any thread, any number of times, after the future finished, or never. Other green threads of
/// the hub run meanwhile. Outside a green thread it blocks the OS thread the same way.
///
/// Waiting is a cancellation point, as [`park`](crate::park) is: a cancelled green thread, or
/// one whose [`timeout`](crate::timeout) scope expires while the future is pending, unwinds
/// from here and the future is dropped. A future woken at the same moment is polled once more
/// first: if it is ready, its output is returned and the next park unwinds instead.
///
/// A future that needs tokio's runtime (its sockets or timers) panics when polled here; run it
/// on a tokio runtime of its own and wait for its result with [`unblock`](crate::unblock) or a
/// channel, as the second example shows.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
/// use std::time::Duration;
///
/// /// Ready on its second poll; wakes its waker from another OS thread in between.
/// struct WokenFromAThread(bool);
/// impl Future for WokenFromAThread {
///     type Output = &'static str;
///     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
///         if self.0 {
///             return Poll::Ready("done");
///         }
///         self.0 = true;
///         let waker = cx.waker().clone();
///         std::thread::spawn(move || {
///             std::thread::sleep(Duration::from_millis(5));
///             waker.wake();
///         });
///         Poll::Pending
///     }
/// }
///
/// greenhub::run(|| {
///     assert_eq!(greenhub::block_on(WokenFromAThread(false)), "done");
/// });
/// assert_eq!(greenhub::block_on(WokenFromAThread(false)), "done"); // on a plain OS thread
/// ```
///
/// A crate that only runs on tokio gets a side runtime of its own; a green thread hands it
/// the work and parks on a greenhub channel (or in [`unblock`](crate::unblock) around tokio's
/// `Handle::block_on`), so its hub keeps running other green threads meanwhile:
///
/// ```
/// # use std::time::Duration;
/// let side = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(1)
///     .enable_all()
///     .build()?;
/// let tokio_side = side.handle().clone();
/// greenhub::run(move || {
///     let (tx, rx) = greenhub::sync::bounded(1);
///     tokio_side.spawn(async move {
///         tokio::time::sleep(Duration::from_millis(5)).await; // needs tokio's timer
///         let _ = tx.send("from tokio");
///     });
///     assert_eq!(rx.recv().unwrap(), "from tokio"); // parks this green thread only
///
///     let on_pool = tokio_side.clone();
///     let answer = greenhub::unblock(move || on_pool.block_on(async { 6 * 7 }));
///     assert_eq!(answer, 42);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        thread: Mutex::new(Some(GreenThread::current())),
    });
    let _forget = Forget(&signal);
    let waker = Waker::from(signal.clone());
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        while !signal.woken.swap(false, Ordering::AcqRel) {
            super::park();
        }
    }
}
