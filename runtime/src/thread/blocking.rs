//! The blocking pool: OS threads for calls that cannot be made non-blocking (DNS, files,
//! CPU-heavy work), so that they never stall a hub.

use crate::hub::with_hub;
use crate::task::GreenThread;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// The most OS threads the pool runs at once; more jobs wait in its queue.
const MAX_THREADS: usize = 512;
/// How long an idle pool thread waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Workers {
    state: Mutex<WorkerState>,
    work_ready: Condvar,
}

struct WorkerState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Workers {
    static POOL: OnceLock<Workers> = OnceLock::new();
    POOL.get_or_init(|| Workers {
        state: Mutex::new(WorkerState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        work_ready: Condvar::new(),
    })
}

impl Workers {
    fn execute(&'static self, job: Job) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push_back(job);
        if state.idle > 0 {
            self.work_ready.notify_one();
        } else if state.threads < MAX_THREADS {
            state.threads += 1;
            let spawned = std::thread::Builder::new()
                .name("greenhub-blocking".into())
                .spawn(move || self.worker());
            if spawned.is_err() {
                // The queued job waits for a thread that exists; if none does, the next
                // `execute` tries to start one again.
                state.threads -= 1;
            }
        }
    }

    fn worker(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work_ready
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Runs a blocking closure on a pool of OS threads and parks the current green thread until it
/// returns, so the hub keeps running other green threads meanwhile.
///
/// Use it for work that would otherwise stall the hub: file I/O, DNS lookups, CPU-heavy
/// computation, blocking C libraries. The pool grows to at most 512 threads and shrinks after
/// 10 s without work. Outside a hub, `f` simply runs on the calling thread.
///
/// If `f` panics, the panic resumes in the calling green thread. If the calling green thread is
/// cancelled while waiting, `f` still runs to completion on the pool and its result is dropped.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let len = greenhub::unblock(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()));
///     assert!(len.unwrap() > 0);
/// });
/// ```
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if crate::current_hub().is_none() {
        return f();
    }
    let slot: Arc<Mutex<Option<std::thread::Result<T>>>> = Arc::new(Mutex::new(None));
    let waiter: GreenThread = crate::current();
    let filled = slot.clone();
    pool().execute(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        waiter.unpark();
    }));
    let result = with_hub(|hub| {
        // The job runs outside the hub: until it is back, the hub is not idle (a shutdown waits
        // for it rather than giving this green thread up).
        let _waiting = hub.wait_on_outside();
        loop {
            if let Some(result) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return result;
            }
            hub.park();
        }
    })
    .expect("checked above: inside a hub");
    // A panic of `f` continues in this green thread (counted as its own unwind).
    result.unwrap_or_else(|payload| crate::hub::interrupt::raise(payload))
}
