//! The hub: one per OS thread, it runs green threads until they park, and waits on the reactor
//! when none can run.
//!
//! ```text
//!            resume                    suspend (park / yield / finish)
//!   hub loop ──────────► green thread ─────────────────────────────────► hub loop
//!      │                                                                    │
//!      ├─ run up to BATCH runnable green threads from the run queue ◄───────┘
//!      ├─ drain the remote queue (wakes and spawns from other threads)
//!      ├─ poll the reactor: wait for I/O, the next timer or a remote wake
//!      │  (or just peek, when green threads are still runnable)
//!      └─ wake the green threads whose timers are due
//! ```
//!
//! Everything here is touched only by the hub's own OS thread, except [`HubShared`], which is
//! how other threads reach it. The parts, by file:
//!
//! - `context`: the one thread-local, which says which hub runs on this OS thread;
//! - `shared`: what other threads see of a hub (its remote queue) and of the runtime;
//! - `liveness`, `sleep_handshake`: whether any hub can still make progress, and how a hub
//!   sleeps without missing a remote wake;
//! - `slots`: the table of green threads (coroutines, headers, join packets, green-locals);
//! - `locals`: green-local values, per green thread or plain OS thread;
//! - `inspect`: a snapshot of the slot table, for `greenhub::threads`;
//! - `park`: what a green thread calls to wait, yield or sleep;
//! - `run_loop`: the loop above, and how a hub shuts down or fails;
//! - `stack`, `stack_mapping`, `overflow`: pooled guard-paged stacks mapped in batches, and
//!   the report when one overflows;
//! - `interrupt`, `unwinding`: when a wait is cut short by a cancel or a deadline, and why
//!   that needs to know which green thread is unwinding.
//!
//! # How a hub stops
//!
//! When the main green thread is done, every hub cancels its green threads and keeps running
//! until the whole runtime is quiet: every hub idle at once (see `liveness`). Only then does
//! each hub give up what still waits (a destructor waiting for something that can never happen:
//! its join reports "cancelled" and its stack is leaked, never unwound from outside), close its
//! remote queue and return. A hub whose own loop panics does the same at once and shuts the
//! runtime down, which `run` then reports.
//!
//! A panic that escapes a green thread's root (a detached result or panic payload whose
//! destructor panics, say) aborts the process with a message naming the green thread, as std
//! does for a thread whose result panics on drop: it never unwinds into the hub.

mod context;
pub(crate) mod inspect;
pub(crate) mod interrupt;
pub(crate) mod liveness;
pub(crate) mod locals;
pub(crate) mod overflow;
mod park;
mod run_loop;
mod shared;
mod sleep_handshake;
mod slots;
pub(crate) mod stack;
mod stack_mapping;
mod unwinding;

pub(crate) use context::{
    next_scope_id, next_select_rotation, os_scope, os_thread_id, os_thread_id_if_known,
    set_os_scope, with_hub,
};
pub(crate) use shared::{HubShared, Remote, RemoteSpawn, RuntimeShared};
pub(crate) use slots::GreenBody;

use crate::driver::{IoDriver, TimerWheel};
use crate::reactor::Poller;
use crate::task::Task;
use corosensei::Yielder;
use slots::Slots;
use stack::StackPool;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use unwinding::UnwindTracker;

/// The green thread that is running on this hub, and how to suspend it.
struct Running {
    current: Cell<Option<Current>>,
    /// The running coroutine's yielder: it points into the coroutine's own stack.
    yielder: Cell<*const Yielder<(), ()>>,
    /// Operations the running green thread may still complete before it must yield.
    io_budget: Cell<u32>,
    /// Yields that returned at once because nothing else was runnable, since the loop last ran.
    quick_yields: Cell<usize>,
    /// When the current batch started, on the coarse clock: what a green thread that parks in
    /// it records as its park time (one clock read per batch, not per park).
    batch_at: Cell<u64>,
}

/// The green thread that is running on this hub.
#[derive(Clone, Copy)]
struct Current {
    key: u32,
    task: *const Task,
}

/// Counts of this hub's green threads by what they wait for.
#[derive(Default)]
struct Waits {
    /// Waiting for something outside the hub (I/O readiness, a job on the blocking pool): a
    /// hub with any is not idle.
    outside: Cell<usize>,
    /// Parked in a `sync` wait list, where any thread holding the primitive may wake them: a
    /// hub with any may sleep, but the runtime is not deadlocked (see `liveness`).
    in_wait_lists: Cell<usize>,
}

/// Where the hub is in its life.
#[derive(Default)]
struct Lifecycle {
    /// The runtime is shutting down: every green thread here is cancelled, new ones too.
    shutting_down: Cell<bool>,
    /// The slot of the main green thread, on the hub that runs it.
    main_key: Cell<Option<u32>>,
    main_done: Cell<bool>,
}

/// A hub: everything that belongs to one OS thread.
pub(crate) struct Hub {
    pub(crate) shared: Arc<HubShared>,
    pub(crate) runtime: Arc<RuntimeShared>,
    run_queue: RefCell<VecDeque<u32>>,
    slots: Slots,
    running: Running,
    timers: RefCell<TimerWheel>,
    io: IoDriver,
    stacks: RefCell<StackPool>,
    /// What its parked green threads wait for, as far as idleness and deadlock matter.
    waits: Waits,
    /// Which green threads are suspended mid-unwind, and interruptions in doubt.
    unwinds: UnwindTracker,
    lifecycle: Lifecycle,
    /// When work from another thread last came in: a hub that had some a moment ago spins a
    /// little before it sleeps (see `run_loop`).
    remote_work_at: Cell<Option<Instant>>,
}

impl Hub {
    pub(crate) fn new(shared: Arc<HubShared>, runtime: Arc<RuntimeShared>, poller: Poller) -> Hub {
        let stacks = StackPool::new(runtime.stack_size, runtime.hubs.len());
        Hub {
            shared,
            runtime,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            slots: Slots::default(),
            running: Running {
                current: Cell::new(None),
                yielder: Cell::new(std::ptr::null()),
                io_budget: Cell::new(park::IO_BUDGET),
                quick_yields: Cell::new(0),
                batch_at: Cell::new(0),
            },
            timers: RefCell::new(TimerWheel::default()),
            io: IoDriver::new(poller),
            stacks: RefCell::new(stacks),
            waits: Waits::default(),
            unwinds: UnwindTracker::default(),
            lifecycle: Lifecycle::default(),
            remote_work_at: Cell::new(None),
        }
    }

    /// Makes this hub the current one for the duration of `f`.
    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        context::enter(self, f)
    }

    pub(crate) fn index(&self) -> usize {
        self.shared.index
    }

    fn current_task_arc(&self) -> Option<Arc<Task>> {
        let current = self.running.current.get()?;
        // SAFETY: `current.task` came from `Arc::as_ptr` of the `Arc<Task>` that the running
        // green thread's slot holds until it has finished (see `current`), so the allocation
        // is alive and owned by an `Arc`; taking one more count and an `Arc` for it is what
        // cloning the slot's `Arc` would do, without looking the slot up.
        Some(unsafe {
            Arc::increment_strong_count(current.task);
            Arc::from_raw(current.task)
        })
    }

    /// The running green thread's header, or `None` when called from the hub loop itself.
    pub(crate) fn current_task_ref(&self) -> Option<&Task> {
        // SAFETY: as in `current`.
        self.running
            .current
            .get()
            .map(|current| unsafe { &*current.task })
    }

    /// The running green thread's header.
    ///
    /// # Panics
    /// When called from the hub loop itself rather than from a green thread.
    pub(crate) fn current(&self) -> &Task {
        let current = self.running_now();
        // SAFETY: `current.task` points into the `Arc<Task>` held by the running green thread's
        // slot, which the hub removes only after that green thread has finished; the returned
        // reference cannot outlive the green thread's own code that asked for it.
        unsafe { &*current.task }
    }

    /// The running green thread's slot key (see [`current`](Self::current)).
    fn current_key(&self) -> u32 {
        self.running_now().key
    }

    fn running_now(&self) -> Current {
        self.running
            .current
            .get()
            .expect("not called from a green thread")
    }

    pub(crate) fn set_main(&self, key: u32) {
        self.lifecycle.main_key.set(Some(key));
    }

    /// Registers a descriptor with this hub's poller and returns its token.
    pub(crate) fn register_source(
        &self,
        state: Arc<crate::driver::IoState>,
    ) -> std::io::Result<usize> {
        self.io.register(state)
    }
}

impl Drop for Hub {
    /// Normally every green thread has finished or been given up by now; should the hub be
    /// dropped any other way, never let a suspended coroutine unwind here.
    fn drop(&mut self) {
        if self.slots.live() > 0 {
            self.abandon_all();
        }
    }
}
