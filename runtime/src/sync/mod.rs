//! Ways for green threads to wait for each other: channels, events, semaphores, a mutex and
//! condition variable that park instead of blocking, wait groups, and [`TaskSet`] (wait for
//! whichever of several green threads finishes first).
//!
//! Every primitive here works between green threads on one hub, across hubs, and from plain
//! OS threads (which block, as with std); waits honour [`timeout`](crate::timeout) scopes and
//! cancellation.

mod channel;
mod claim;
mod event;
mod handoff;
mod mutex;
mod process_barrier;
mod select;
pub(crate) mod semaphore;
mod state_lock;
mod structured;
pub(crate) mod task_set;
mod waiters;
mod waitgroup;

pub use channel::{
    bounded, channel, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, SendError,
    SendTimeoutError, Sender, TryIter, TryRecvError, TrySendError,
};
pub use event::Event;
pub use mutex::{Condvar, Mutex, MutexGuard};
pub use select::Select;
pub use semaphore::{Semaphore, SemaphoreGuard};
pub use structured::TaskSet;
pub use waitgroup::WaitGroup;
