//! gevent-style green threads for Rust.
//!
//! Write a server the way the first socket tutorial taught you (accept a client, then a plain
//! loop of read a line, act, write) and still hold thousands of clients on one core. Every
//! blocking-looking call parks only the green thread that made it; the hub runs someone else
//! until the call can go on.
//!
//! ```
//! use std::time::Duration;
//!
//! let order = greenhub::run(|| {
//!     let (tx, rx) = std::sync::mpsc::channel();
//!     let slow = { let tx = tx.clone(); greenhub::spawn(move || {
//!         greenhub::sleep(Duration::from_millis(20));
//!         tx.send("slow").unwrap();
//!     })};
//!     let fast = greenhub::spawn(move || {
//!         greenhub::sleep(Duration::from_millis(1));
//!         tx.send("fast").unwrap();
//!     });
//!     slow.join().unwrap();
//!     fast.join().unwrap();
//!     rx.try_iter().collect::<Vec<_>>()
//! });
//! assert_eq!(order, ["fast", "slow"]);
//! ```
//!
//! # Implementation
//!
//! - A **hub** runs on each OS thread of the runtime: a run queue, timers, a reactor (epoll on
//!   Linux, kqueue on macOS and the BSDs), a pool of stacks and a queue through which other
//!   threads hand it wake-ups.
//! - A **green thread** is a [corosensei] coroutine on a pooled, guard-paged stack. It never
//!   moves to another hub, which is why [`spawn`] accepts closures that are not `Send`.
//! - Every blocking call is built on one primitive, **park/unpark**: the green thread suspends
//!   back to its hub, and whoever makes progress possible (a timer, a ready socket, another green
//!   thread, an OS thread) unparks it. A wake from another thread reaches the hub through its
//!   wake queue and at most one eventfd (or `EVFILT_USER`) write per batch.
//! - An idle hub sleeps in the poller until its next timer or a remote wake: it uses no CPU.
//!   One that took work from another hub a moment ago first spins up to 50 us, once, so that an
//!   exchange between hubs does not pay a kernel wake each way.
//! - A panic in a green thread is caught at its root and handed to [`JoinHandle::join`]; a stack
//!   overflow hits the guard page and aborts with a message naming the green thread.
//!
//! The source is layered; each folder of `src/` uses only those below it (ARCHITECTURE.md in
//! the repository says more, including the path of a wake from `unpark` to the run queue):
//!
//! ```text
//!   server pool signal timeout   the public toolkit
//!   tls/       TLS streams on rustls (feature "tls")
//!   net/       sockets: TCP, UDP, Unix
//!   io/        Source<T> and its retry loop, stdin
//!   sync/      channels, Select, Mutex, Condvar, Semaphore, Event, WaitGroup
//!   runtime/   Runtime and run; the blocking monitor
//!   thread/    spawn, join, park, sleep, unblock
//!   hub/       the run loop; the one thread-local context; slots, stacks, liveness
//!   driver/    descriptors' readiness and waiters, the poller's tokens, timers
//!   task/      a green thread's header, its handles, cancellation and deadline scopes
//!   reactor/   epoll | kqueue
//!   sys, loom  errno to io::Error; model-checked atomics
//! ```
//!
//! [corosensei]: https://docs.rs/corosensei

mod driver;
mod hub;
pub mod io;
mod loom;
pub mod net;
mod pool;
pub mod process;
mod reactor;
mod runtime;
mod server;
pub mod signal;
pub mod sync;
mod sys;
mod task;
mod thread;
mod timeout;
#[cfg(feature = "tls")]
pub mod tls;

pub use hub::inspect::{ThreadInfo, ThreadState};
pub use hub::stack::DEFAULT_STACK_SIZE;
pub use pool::Pool;
pub use runtime::{inspect::threads, run, Runtime, RuntimeBuilder};
pub use server::{ServerHandle, StreamServer};
pub use task::{GreenThread, GreenThreadId};
pub use thread::{
    block_on, current, current_hub, hub_count, park, park_timeout, sleep, sleep_until, spawn,
    spawn_later, spawn_on, unblock, yield_now, Builder, GreenLocal, JoinError, JoinHandle,
};
pub use timeout::{timeout, Elapsed};
