//! `Pool`: at most `n` green threads at once, like gevent's `Pool`.

use crate::sync::task_set::TaskSet;
use crate::sync::Semaphore;
use crate::JoinHandle;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs green threads, at most `size` at once: [`spawn`](Pool::spawn) parks while the pool is
/// full. [`join`](Pool::join) waits for all of them; [`cancel`](Pool::cancel) cancels all.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// greenhub::run(|| {
///     let pool = greenhub::Pool::new(3);
///     let handles: Vec<_> = (0..10u64)
///         .map(|i| pool.spawn(move || { greenhub::sleep(Duration::from_millis(1)); i * i }))
///         .collect();
///     pool.join();
///     let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
///     assert_eq!(total, 285);
/// });
/// ```
pub struct Pool {
    slots: Arc<Semaphore>,
    size: usize,
    members: Arc<TaskSet>,
}

impl Pool {
    /// A pool that runs at most `size` green threads at once.
    ///
    /// # Panics
    ///
    /// When `size` is zero: such a pool could never run anything.
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "a pool needs room for at least one green thread");
        Pool {
            slots: Arc::new(Semaphore::new(size)),
            size,
            members: Arc::default(),
        }
    }

    /// Parks until the pool has room, then starts `f` in a green thread on this hub.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        // The slot and the membership move into the closure, so they come back however the
        // green thread ends, and also when it never runs (cancelled before it started, the
        // runtime shutting down, no stack to run on).
        let slot = self.slots.acquire_owned();
        let membership = self.members.enter();
        let id = membership.id();
        let handle = crate::spawn(move || {
            let _slot = slot;
            let _membership = membership;
            f()
        });
        self.members.watch(id, &handle);
        handle
    }

    /// Parks until every green thread of the pool has finished.
    pub fn join(&self) {
        self.members.wait_idle(None);
    }

    /// Like [`join`](Self::join), for at most `timeout`; returns whether all finished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.members.wait_idle(Instant::now().checked_add(timeout))
    }

    /// Cancels every running green thread of the pool (see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel)).
    pub fn cancel(&self) {
        self.members.cancel_all();
    }

    /// How many green threads of the pool are running.
    pub fn running(&self) -> usize {
        self.members.running()
    }

    /// The most green threads the pool runs at once.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("running", &self.running())
            .finish()
    }
}
