//! What a hub tells about its green threads when asked (see `greenhub::threads`): a snapshot of
//! its slot table, taken on the hub's own thread, so the table needs no lock and spawning and
//! parking pay nothing for it but a store of the park's time and reason.

use super::Hub;
use crate::task::{make_id, GreenThreadId, ParkedOn};
use std::fmt;
use std::time::Duration;

/// One live green thread, as [`threads`](crate::threads) lists it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ThreadInfo {
    /// Its id, as [`GreenThread::id`](crate::GreenThread::id) reports it.
    pub id: GreenThreadId,
    /// Its name, if it was given one ([`Builder::name`](crate::Builder::name)); the main
    /// green thread is "main".
    pub name: Option<String>,
    /// The index of the hub it runs on.
    pub hub: usize,
    /// What it is doing.
    pub state: ThreadState,
}

/// What a green thread is doing, in a [`ThreadInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadState {
    /// Running now (its hub answered from inside it: it called `threads()` itself).
    Running,
    /// Ready to run, waiting for its turn on its hub.
    Runnable,
    /// Parked: waiting for something, for about `for_at_least` (measured on a clock as fine as
    /// the kernel's tick, a few milliseconds).
    Parked {
        /// What it waits for: `"sleep"`, `"sync"` (a channel, lock or other `greenhub::sync`
        /// wait), `"io"` (socket readiness or a job on the blocking pool), or `"park"`
        /// (`park`, a join, anything else).
        on: &'static str,
        /// How long it has been parked.
        for_at_least: Duration,
    },
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "green thread '{}' (id {}) on hub {}: ",
            self.name.as_deref().unwrap_or("<unnamed>"),
            self.id,
            self.hub
        )?;
        match self.state {
            ThreadState::Running => f.write_str("running"),
            ThreadState::Runnable => f.write_str("runnable"),
            ThreadState::Parked { on, for_at_least } => {
                write!(f, "parked on {on} for {} ms", for_at_least.as_millis())
            }
        }
    }
}

fn describe(on: ParkedOn) -> &'static str {
    match on {
        ParkedOn::Park => "park",
        ParkedOn::Sleep => "sleep",
        ParkedOn::Sync => "sync",
        ParkedOn::Outside => "io",
    }
}

impl Hub {
    /// Every green thread on this hub, on the hub's own thread (from its loop, or from one of
    /// its green threads).
    pub(crate) fn snapshot(&self) -> Vec<ThreadInfo> {
        let now = crate::sys::coarse_now_nanos();
        let running = self.running.current.get().map(|current| current.key);
        let mut threads = Vec::new();
        for key in self.slots.occupied() {
            let cell = self.slots.cell(key);
            let task = cell.task.borrow();
            let Some(task) = task.as_ref() else { continue };
            let state = if running == Some(key) {
                ThreadState::Running
            } else if task.is_parked_local() {
                let (at, on) = task.parked_on();
                ThreadState::Parked {
                    on: describe(on),
                    for_at_least: Duration::from_nanos(now.saturating_sub(at)),
                }
            } else {
                ThreadState::Runnable
            };
            threads.push(ThreadInfo {
                id: make_id(task.id()),
                name: task.name().map(String::from),
                hub: self.index(),
                state,
            });
        }
        threads
    }
}
