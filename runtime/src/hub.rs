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
//! how other threads reach it.
//!
//! # How a hub stops
//!
//! When the main green thread is done, every hub cancels its green threads and keeps running
//! until the whole runtime is quiet: every hub idle at once (see `crate::liveness`). Only then
//! does each hub give up what still waits (a destructor waiting for something that can never
//! happen: its join reports "cancelled" and its stack is leaked, never unwound from outside),
//! close its remote queue and return. A hub whose own loop panics does the same at once and
//! shuts the runtime down, which `run` then reports.
//!
//! A panic that escapes a green thread's root (a detached result or panic payload whose
//! destructor panics, say) aborts the process with a message naming the green thread, as std
//! does for a thread whose result panics on drop: it never unwinds into the hub.

use crate::interrupt::Interrupt;
use crate::reactor::{Events, Poller};
use crate::remote::{HubShared, Remote};
use crate::runtime::RuntimeShared;
use crate::source::{IoState, IO_BUDGET};
use crate::stack::{self, RunningStack, StackPool};
use crate::task::{Task, NO_KEY};
use crate::timer::{TimerHeap, TimerId};
use crate::unwinding::{UnwindTracker, Unwinding};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many green threads run before the hub looks at remote wakes, timers and I/O again, so
/// that a crowd of busy green threads cannot starve the outside world.
const BATCH: usize = 61;

/// A hub about to wait at least this long (or with no deadline) releases spare stack pages.
const TRIM_WHEN_IDLE_FOR: Duration = Duration::from_millis(10);

pub(crate) type GreenCoroutine = Coroutine<(), (), (), DefaultStack>;
type HubYielder = Yielder<(), ()>;

/// What a hub does with a green thread's join when it gives the green thread up for good.
pub(crate) trait Abandon {
    /// Completes the join as "cancelled", unless the green thread completed it already.
    fn abandon(&self);
}

/// What a green thread runs: consumed by `run`, on the green thread's own stack.
pub(crate) trait GreenBody: 'static {
    fn run(self, task: &Task);

    /// The join packet that `run` completes, as a pointer that stays valid while the body
    /// exists, moved or not (it points into the packet's own heap allocation, which the body
    /// keeps alive), and while `run` has not returned.
    fn join(&self) -> *const dyn Abandon;
}

/// One entry of a hub's slot table. Cells are boxed and never freed while the hub runs, so a
/// coroutine is resumed in place through a stable address while the table itself may grow.
#[derive(Default)]
struct SlotCell {
    task: RefCell<Option<Arc<Task>>>,
    /// # Invariant
    /// Touched only by the hub loop (`run_task`, `spawn_task`, `abandon_all`), never while a
    /// `&mut` obtained from it is live: the loop is not re-entrant.
    coroutine: UnsafeCell<Option<GreenCoroutine>>,
    running: Cell<RunningStack>,
    /// The green thread's join packet, to complete if the hub has to give the green thread up.
    ///
    /// # Invariant
    /// Set while the slot's coroutine exists and has not returned; it then points into a
    /// packet that the coroutine's body keeps alive (see [`GreenBody::join`]). A coroutine given
    /// up is leaked, never dropped, so its body and the packet stay alive.
    join: Cell<Option<*const dyn Abandon>>,
}

/// The green thread that is running on this hub.
#[derive(Clone, Copy)]
struct Current {
    key: u32,
    task: *const Task,
}

/// A hub: everything that belongs to one OS thread.
pub(crate) struct Hub {
    pub(crate) shared: Arc<HubShared>,
    pub(crate) runtime: Arc<RuntimeShared>,
    run_queue: RefCell<VecDeque<u32>>,
    // Boxed on purpose (clippy's vec_box): cells must keep their address while the table grows.
    #[allow(clippy::vec_box)]
    slots: RefCell<Vec<Box<SlotCell>>>,
    free_slots: RefCell<Vec<u32>>,
    live_tasks: Cell<usize>,
    timers: RefCell<TimerHeap>,
    poller: Poller,
    events: RefCell<Events>,
    stacks: RefCell<StackPool>,
    current: Cell<Option<Current>>,
    yielder: Cell<*const HubYielder>,
    /// Green threads of this hub waiting for something outside it (I/O readiness, a job on the
    /// blocking pool); a hub with any is not idle.
    outside_waits: Cell<usize>,
    /// Which green threads are suspended mid-unwind, and interruptions in doubt.
    unwinds: UnwindTracker,
    /// Descriptors registered with this hub's poller, by token.
    sources: RefCell<Vec<Option<Arc<IoState>>>>,
    free_tokens: RefCell<Vec<usize>>,
    /// Tokens released since the last poll; freed after the next one, when the poller can no
    /// longer report them.
    released_tokens: RefCell<Vec<usize>>,
    io_registered: Cell<usize>,
    /// Operations the running green thread may still complete before it must yield.
    io_budget: Cell<u32>,
    shutting_down: Cell<bool>,
    main_key: Cell<Option<u32>>,
    main_done: Cell<bool>,
    /// Yields that returned at once because nothing else was runnable, since the loop last ran.
    quick_yields: Cell<usize>,
    /// Headers of joined green threads, kept to save an allocation per spawn.
    spare_tasks: RefCell<Vec<Arc<Task>>>,
}

/// How many spare task headers a hub keeps.
const SPARE_TASKS: usize = 256;

thread_local! {
    /// The hub running on this OS thread, set for the duration of `Hub::enter`.
    static CURRENT_HUB: Cell<*const Hub> = const { Cell::new(std::ptr::null()) };
}

/// Calls `f` with this thread's hub, or returns `None` outside any hub.
#[inline]
pub(crate) fn with_hub<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
    let hub = CURRENT_HUB.with(|h| h.get());
    if hub.is_null() {
        return None;
    }
    // SAFETY: CURRENT_HUB is non-null only inside `Hub::enter`, whose guard clears it before the
    // hub is dropped; the hub does not move while entered (it is borrowed by `enter`).
    Some(f(unsafe { &*hub }))
}

/// The running green thread's header, if called from a green thread.
pub(crate) fn current_task() -> Option<Arc<Task>> {
    with_hub(|hub| hub.current_task_arc()).flatten()
}

/// Wakes `task` if it belongs to this thread's hub; returns false when it belongs elsewhere.
pub(crate) fn wake_if_local(task: &Task) -> bool {
    with_hub(|hub| {
        if !std::ptr::eq(Arc::as_ptr(&hub.shared), Arc::as_ptr(&task.hub)) {
            return false;
        }
        if task.notify_local() {
            hub.run_queue.borrow_mut().push_back(task.key());
        }
        true
    })
    .unwrap_or(false)
}

/// Keeps a hub from counting as idle while one of its green threads waits on something outside
/// it (I/O readiness, a blocking-pool job).
pub(crate) struct OutsideWait<'a> {
    hub: &'a Hub,
}

impl Drop for OutsideWait<'_> {
    fn drop(&mut self) {
        self.hub.outside_waits.set(self.hub.outside_waits.get() - 1);
    }
}

/// Removes its timer when the wait ends, however it ends (including by unwinding).
pub(crate) struct TimerGuard<'a> {
    hub: &'a Hub,
    id: TimerId,
}

impl Drop for TimerGuard<'_> {
    fn drop(&mut self) {
        self.hub.timers.borrow_mut().remove(self.id);
    }
}

impl Hub {
    pub(crate) fn new(shared: Arc<HubShared>, runtime: Arc<RuntimeShared>, poller: Poller) -> Hub {
        let stacks = StackPool::new(runtime.stack_size, runtime.hubs.len());
        Hub {
            shared,
            runtime,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            slots: RefCell::new(Vec::new()),
            free_slots: RefCell::new(Vec::new()),
            live_tasks: Cell::new(0),
            timers: RefCell::new(TimerHeap::default()),
            poller,
            events: RefCell::new(Events::with_capacity(1024)),
            stacks: RefCell::new(stacks),
            current: Cell::new(None),
            yielder: Cell::new(std::ptr::null()),
            outside_waits: Cell::new(0),
            unwinds: UnwindTracker::default(),
            sources: RefCell::new(Vec::new()),
            free_tokens: RefCell::new(Vec::new()),
            released_tokens: RefCell::new(Vec::new()),
            io_registered: Cell::new(0),
            io_budget: Cell::new(IO_BUDGET),
            shutting_down: Cell::new(false),
            main_key: Cell::new(None),
            main_done: Cell::new(false),
            quick_yields: Cell::new(0),
            spare_tasks: RefCell::new(Vec::new()),
        }
    }

    /// Makes this hub the current one for the duration of `f`.
    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Exit;
        impl Drop for Exit {
            fn drop(&mut self) {
                CURRENT_HUB.with(|h| h.set(std::ptr::null()));
            }
        }
        let previous = CURRENT_HUB.with(|h| h.replace(self));
        assert!(
            previous.is_null(),
            "a hub is already running on this thread"
        );
        let _exit = Exit;
        f()
    }

    pub(crate) fn index(&self) -> usize {
        self.shared.index
    }

    fn current_task_arc(&self) -> Option<Arc<Task>> {
        let current = self.current.get()?;
        self.slot(current.key).task.borrow().clone()
    }

    /// The running green thread's header, or `None` when called from the hub loop itself.
    pub(crate) fn current_task_ref(&self) -> Option<&Task> {
        // SAFETY: as in `current`.
        self.current.get().map(|current| unsafe { &*current.task })
    }

    /// The running green thread's header.
    ///
    /// # Panics
    /// When called from the hub loop itself rather than from a green thread.
    pub(crate) fn current(&self) -> (&Task, u32) {
        let current = self.current.get().expect("not called from a green thread");
        // SAFETY: `current.task` points into the `Arc<Task>` held by the running green thread's
        // slot, which the hub removes only after that green thread has finished; the returned
        // reference cannot outlive the green thread's own code that asked for it.
        (unsafe { &*current.task }, current.key)
    }

    // ----- spawning -----

    /// A header for a new green thread on this hub, recycled when one is spare.
    pub(crate) fn new_task(&self, name: Option<Box<str>>) -> Arc<Task> {
        if let Some(mut task) = self.spare_tasks.borrow_mut().pop() {
            if let Some(header) = Arc::get_mut(&mut task) {
                header.reuse(name);
                return task;
            }
        }
        Arc::new(Task::new(name, self.shared.clone()))
    }

    /// Takes back the header of a joined green thread if nobody else refers to it.
    pub(crate) fn recycle_task(&self, mut task: Arc<Task>) {
        if Arc::ptr_eq(&task.hub, &self.shared) && Arc::get_mut(&mut task).is_some() {
            let mut spare = self.spare_tasks.borrow_mut();
            if spare.len() < SPARE_TASKS {
                spare.push(task);
            }
        }
    }

    /// Registers a new green thread on this hub and makes it runnable. Its body's join packet
    /// is completed as "cancelled" should the hub ever have to give the green thread up.
    pub(crate) fn spawn_task(
        &self,
        task: Arc<Task>,
        stack_size: Option<usize>,
        body: impl GreenBody,
    ) -> std::io::Result<()> {
        let join = body.join();
        let stack = self.stacks.borrow_mut().take(stack_size)?;
        let running = RunningStack::of(&stack, &task);
        if self.shutting_down.get() {
            task.request_cancel();
        }
        let coroutine = GreenCoroutine::with_stack(stack, move |yielder: &HubYielder, ()| {
            let task = with_hub(|hub| {
                hub.yielder.set(yielder);
                hub.current().0 as *const Task
            })
            .expect("a green thread runs on its hub");
            // SAFETY: the slot holds the task's Arc until this coroutine has returned.
            let task = unsafe { &*task };
            // Nothing may unwind out of a coroutine into the hub: see the module doc.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.run(task))) {
                abort_escaped_panic(task, payload);
            }
        });
        let key = match self.free_slots.borrow_mut().pop() {
            Some(key) => key,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Box::default());
                (slots.len() - 1) as u32
            }
        };
        task.set_key(key);
        let cell = self.slot(key);
        *cell.task.borrow_mut() = Some(task);
        cell.join.set(Some(join));
        cell.running.set(running);
        // SAFETY: the slot was free, so no coroutine in it is running or borrowed (SlotCell).
        unsafe { *cell.coroutine.get() = Some(coroutine) };
        self.live_tasks.set(self.live_tasks.get() + 1);
        self.run_queue.borrow_mut().push_back(key);
        Ok(())
    }

    fn slot(&self, key: u32) -> &SlotCell {
        let cell: *const SlotCell = &*self.slots.borrow()[key as usize];
        // SAFETY: slot cells are boxed and only dropped with the hub itself, never while a
        // reference from here is in use; growing the table moves the boxes, not the cells.
        unsafe { &*cell }
    }

    pub(crate) fn set_main(&self, key: u32) {
        self.main_key.set(Some(key));
    }

    // ----- parking (called from green threads) -----

    /// Suspends the running green thread back to the hub loop.
    fn suspend(&self) {
        let yielder = self.yielder.get();
        // SAFETY: `yielder` was stored by the running coroutine at its start (see
        // `spawn_task`) and after each of its suspensions (below); it points into that
        // coroutine's own stack, which is alive while the coroutine is suspended or running.
        unsafe { (*yielder).suspend(()) };
        self.yielder.set(yielder);
    }

    /// What must interrupt the running green thread's wait now: its cancellation or the expiry
    /// of its innermost `timeout` scope, unless it is unwinding already.
    #[inline]
    pub(crate) fn pending_interrupt(&self) -> Option<Interrupt> {
        let task = self.current_task_ref()?;
        if !task.may_be_interrupted() {
            return None;
        }
        self.interrupt_of(task)
    }

    #[cold]
    fn interrupt_of(&self, task: &Task) -> Option<Interrupt> {
        let scope = task.scope();
        // Once its function is done nothing cancels a green thread; a scope then in force was
        // opened by the destructor still running, and may end its wait.
        let cancelled = task.is_cancel_requested() && !task.is_finishing();
        let due = crate::interrupt::due(cancelled, scope)?;
        match self.unwinds.state(task) {
            Unwinding::No => Some(due),
            Unwinding::Yes { depth, certain } => {
                // A scope opened during this very unwind (inside the destructor running now)
                // may end its wait: the expiry is caught by that scope's `timeout`, within the
                // destructor.
                if scope.depth() == depth && scope.has_expired() {
                    return Some(Interrupt::Expired(scope.id()));
                }
                if !certain {
                    // Maybe a stale mark (a panic its own `catch_unwind` caught while a
                    // neighbour keeps the thread panicking): look again once the hub knows
                    // more, so the interruption is late rather than lost.
                    if let Some(task) = self.current_task_arc() {
                        self.unwinds.defer(task);
                    }
                }
                None
            }
        }
    }

    /// Unwinds `task`, the running green thread, if it was cancelled or its scope expired.
    #[inline]
    fn check_interrupt(&self, task: &Task) {
        if task.may_be_interrupted() {
            if let Some(interrupt) = self.interrupt_of(task) {
                interrupt.raise();
            }
        }
    }

    /// The unwinding depth that a scope the running green thread opens now records.
    #[inline]
    pub(crate) fn unwinding_depth(&self, task: &Task) -> u32 {
        self.unwinds.depth_for_new_scope(task)
    }

    /// A panic or a greenhub interruption starts unwinding the running green thread.
    pub(crate) fn unwind_started(&self) {
        if let Some(task) = self.current_task_ref() {
            task.set_unwinding(task.unwinding().saturating_add(1));
        }
    }

    /// An unwind of the running green thread was caught.
    pub(crate) fn unwind_caught(&self) {
        if let Some(task) = self.current_task_ref() {
            task.set_unwinding(task.unwinding().saturating_sub(1));
        }
    }

    /// Parks the running green thread until woken (or spuriously), without looking at
    /// cancellation or timeouts: for waits that checked them already, under their own lock.
    pub(crate) fn park_raw(&self) {
        let (task, _) = self.current();
        self.park_task(task);
    }

    #[inline]
    fn park_task(&self, task: &Task) {
        if task.take_notification_local() {
            return;
        }
        task.set_parked_local();
        self.suspend();
        task.finish_park_local();
    }

    /// Parks the running green thread until woken (or spuriously), first unwinding if it was
    /// cancelled or its timeout scope expired. The primitive every blocking-looking call is built
    /// on: callers check their condition after it returns, and park again if they must.
    pub(crate) fn park(&self) {
        let (task, _) = self.current();
        self.check_interrupt(task);
        self.park_task(task);
    }

    /// Arms a timer that wakes the running green thread at `deadline`.
    pub(crate) fn timer(&self, deadline: Instant) -> TimerGuard<'_> {
        let (_, key) = self.current();
        let id = self.timers.borrow_mut().insert(deadline, key);
        TimerGuard { hub: self, id }
    }

    /// [`park`](Self::park), until woken or until `deadline`.
    pub(crate) fn park_until(&self, deadline: Instant) {
        self.check_interrupt(self.current().0);
        self.park_until_raw(deadline);
    }

    /// [`park_raw`](Self::park_raw), until woken or until `deadline`.
    pub(crate) fn park_until_raw(&self, deadline: Instant) {
        let _timer = self.timer(deadline);
        self.park_raw();
    }

    /// Parks until `deadline`, ignoring wake-ups that come earlier. A sleep has no result to
    /// lose, so a scope that expired while it slept unwinds even if the green thread only got
    /// to run after the sleep's own deadline.
    pub(crate) fn sleep_until(&self, deadline: Instant) {
        if Instant::now() >= deadline {
            return self.yield_now();
        }
        let _timer = self.timer(deadline);
        while Instant::now() < deadline {
            self.park();
        }
        self.check_interrupt(self.current().0);
    }

    /// Lets every other runnable green thread run once, then continues. A cancellation point
    /// on the way in and, when it did let others run, on the way out.
    pub(crate) fn yield_now(&self) {
        let (task, key) = self.current();
        self.check_interrupt(task);
        if self.yield_task(key) {
            self.check_interrupt(task);
        }
    }

    /// [`yield_now`](Self::yield_now) that is not a cancellation point: for the I/O budget, whose
    /// operation has already happened and must return its result.
    fn yield_raw(&self) {
        self.yield_task(self.current().1);
    }

    /// Yields the running green thread `key`; returns whether it was suspended.
    #[inline]
    fn yield_task(&self, key: u32) -> bool {
        // Nothing else can run: return at once, except once per BATCH so that the loop still
        // gets to look at timers, remote wakes and I/O.
        let quick = self.quick_yields.get();
        if quick < BATCH && self.run_queue.borrow().is_empty() && !self.has_remote_work() {
            self.quick_yields.set(quick + 1);
            return false;
        }
        self.run_queue.borrow_mut().push_back(key);
        self.suspend();
        true
    }

    // ----- I/O -----

    /// Registers a descriptor with this hub's poller and returns its token.
    pub(crate) fn register_source(&self, state: Arc<IoState>) -> std::io::Result<usize> {
        let token = match self.free_tokens.borrow_mut().pop() {
            Some(token) => token,
            None => {
                let mut sources = self.sources.borrow_mut();
                sources.push(None);
                sources.len() - 1
            }
        };
        if let Err(err) = self.poller.register(state.fd(), token) {
            self.free_tokens.borrow_mut().push(token);
            return Err(err);
        }
        self.sources.borrow_mut()[token] = Some(state);
        self.io_registered.set(self.io_registered.get() + 1);
        Ok(token)
    }

    /// Forgets a registration whose descriptor was already removed from the poller; its token
    /// is freed after the next poll, which is the last that could report it.
    pub(crate) fn release_token(&self, token: usize) {
        self.released_tokens.borrow_mut().push(token);
    }

    /// Counts the current green thread as waiting on something outside the hub until the guard
    /// drops.
    pub(crate) fn wait_on_outside(&self) -> OutsideWait<'_> {
        self.outside_waits.set(self.outside_waits.get() + 1);
        OutsideWait { hub: self }
    }

    /// Called after each I/O operation that completed without parking: once the budget is
    /// spent, the green thread yields so others on this hub get their turn. Not a cancellation
    /// point: the operation has happened, and its result goes back to the caller.
    pub(crate) fn spend_io_budget(&self) {
        if self.current.get().is_none() {
            return;
        }
        let left = self.io_budget.get().saturating_sub(1);
        self.io_budget.set(left);
        if left == 0 {
            self.yield_raw();
        }
    }

    fn dispatch_events(&self) {
        let ready: Vec<(Arc<IoState>, crate::reactor::Event)> = {
            let events = self.events.borrow();
            let sources = self.sources.borrow();
            events
                .iter()
                .filter_map(|e| {
                    let state = sources.get(e.token)?.as_ref()?;
                    Some((state.clone(), e))
                })
                .collect()
        };
        for (state, event) in ready {
            state.dispatch(&event);
        }
    }

    // ----- the loop -----

    /// Wakes the green thread in slot `key` if `expected` is still the one living there.
    fn wake_local(&self, key: u32, expected: Option<&Arc<Task>>) {
        let slot = self.slot(key);
        let task = slot.task.borrow();
        let Some(task) = task.as_ref() else { return };
        if expected.is_some_and(|e| !Arc::ptr_eq(e, task)) {
            return;
        }
        if task.notify_local() {
            self.run_queue.borrow_mut().push_back(key);
        }
    }

    fn run_task(&self, key: u32) {
        let slot = self.slot(key);
        let Some(task) = slot.task.borrow().as_ref().map(Arc::as_ptr) else {
            return;
        };
        // SAFETY: only the hub loop touches the coroutine cell, and it is not re-entrant (see
        // SlotCell); the cell stays in place while the coroutine runs.
        let coroutine = unsafe { &mut *slot.coroutine.get() };
        let Some(coroutine) = coroutine.as_mut() else {
            return;
        };
        // SAFETY: the slot holds the task's Arc for as long as its coroutine exists.
        let header = unsafe { &*task };
        // Was it suspended mid-unwind? While it runs it no longer counts as suspended.
        let ran_counted = self.unwinds.resuming(header);
        self.current.set(Some(Current { key, task }));
        self.io_budget.set(IO_BUDGET);
        if self.runtime.blocking_threshold.is_some() {
            let running = slot
                .task
                .borrow()
                .clone()
                .map(|task| (task, Instant::now()));
            *self
                .shared
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = running;
        }
        stack::set_running(slot.running.get());
        let result = coroutine.resume(());
        stack::set_running(RunningStack::NONE);
        if self.runtime.blocking_threshold.is_some() {
            *self
                .shared
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.current.set(None);
        match result {
            CoroutineResult::Yield(()) => self.unwinds.suspending(header),
            CoroutineResult::Return(()) => {
                // SAFETY: as above; the coroutine has finished and no reference to it remains.
                let finished = unsafe { (*slot.coroutine.get()).take() }.expect("just resumed");
                let task = slot.task.borrow_mut().take();
                slot.join.set(None);
                self.free_slots.borrow_mut().push(key);
                self.live_tasks.set(self.live_tasks.get() - 1);
                self.stacks.borrow_mut().give(finished.into_stack());
                drop(task);
                if self.main_key.get() == Some(key) {
                    self.main_done.set(true);
                }
            }
        }
        if let Some(deferred) = self.unwinds.after_run(ran_counted) {
            // It learned more about unwinding: look again at interruptions in doubt.
            for task in deferred {
                self.wake_local(task.key(), Some(&task));
            }
        }
    }

    fn run_batch(&self) {
        self.quick_yields.set(0);
        for _ in 0..BATCH {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(key) => self.run_task(key),
                None => break,
            }
            // Quick yields count against the batch too: a lone yielder has had its turn.
            if self.quick_yields.get() >= BATCH {
                break;
            }
        }
    }

    fn has_remote_work(&self) -> bool {
        self.shared.flags().handshake.is_notified()
    }

    fn drain_remote(&self) {
        if !self.shared.flags().handshake.take_notification() {
            return;
        }
        for item in self.shared.take_remote() {
            match item {
                Remote::Wake(task) => {
                    task.clear_remote_wake();
                    let key = task.key();
                    if key != NO_KEY {
                        self.wake_local(key, Some(&task));
                    } else {
                        // Not registered yet (a spawn_on in flight): keep the token for later.
                        task.notify_local();
                    }
                }
                Remote::Spawn(start) => start.start(self),
                Remote::ReleaseSource(token) => self.release_token(token),
            }
        }
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = Instant::now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(key) => self.wake_local(key, None),
                None => break,
            }
        }
    }

    /// True when nothing on this hub can happen without help from outside.
    fn locally_idle(&self) -> bool {
        self.run_queue.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.outside_waits.get() == 0
    }

    fn poll_step(&self) {
        let runnable = !self.run_queue.borrow().is_empty();
        if runnable && self.io_registered.get() == 0 {
            // Nothing to peek at: remote work is noticed through the handshake by drain_remote.
            return;
        }
        let mut timeout = if runnable {
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .next_deadline()
                .map(|deadline| deadline.saturating_duration_since(Instant::now()))
        };
        // About to wait a while with nothing to run: a good moment to give back the pages of
        // stacks a burst left behind. Slice by slice, polling in between.
        if timeout.map_or(true, |t| t >= TRIM_WHEN_IDLE_FOR) && self.stacks.borrow_mut().trim() {
            timeout = Some(Duration::ZERO);
        }
        let sleeping = timeout != Some(Duration::ZERO);
        if sleeping && !self.prepare_to_sleep() {
            return;
        }
        let releasable = std::mem::take(&mut *self.released_tokens.borrow_mut());
        let polled = self.poller.poll(&mut self.events.borrow_mut(), timeout);
        if let Err(err) = polled {
            crate::sys::report(&format!(
                "greenhub: hub {}: poll failed: {err}\n",
                self.index()
            ));
            std::thread::sleep(Duration::from_millis(10));
        }
        if sleeping {
            self.leave_sleep();
        }
        self.dispatch_events();
        // The poll that just ran was the last one that could report these tokens.
        for token in releasable {
            self.sources.borrow_mut()[token] = None;
            self.free_tokens.borrow_mut().push(token);
            self.io_registered.set(self.io_registered.get() - 1);
        }
    }

    /// The hub is about to sleep in its poller: tells the other hubs (idleness, the sleep
    /// handshake) and runs the runtime-wide checks an idle hub owes. Returns false when it must
    /// not sleep after all (remote work came in, or the loop has something to do first).
    fn prepare_to_sleep(&self) -> bool {
        let liveness = &self.shared.liveness;
        let idle = self.locally_idle();
        if idle {
            liveness.enter_idle(self.index());
        }
        if !self.shared.flags().handshake.begin_sleep() || self.must_leave_loop() {
            self.leave_sleep();
            return false;
        }
        if idle {
            if self.shutting_down.get() {
                if liveness.check_quiet() {
                    self.wake_all_hubs();
                    self.leave_sleep();
                    return false;
                }
            } else {
                liveness.check_deadlock();
            }
        }
        true
    }

    fn leave_sleep(&self) {
        self.shared.flags().handshake.end_sleep();
        self.shared.liveness.leave_idle(self.index());
    }

    fn wake_all_hubs(&self) {
        for hub in &self.runtime.hubs {
            hub.wake_up();
        }
    }

    /// Whether the loop has something to do before sleeping: shutdown, a deadlock verdict, or
    /// a quiet runtime to stop.
    fn must_leave_loop(&self) -> bool {
        let liveness = &self.shared.liveness;
        if self.shutting_down.get() {
            liveness.is_quiet()
        } else {
            liveness.shutdown.load(Ordering::SeqCst)
                || (self.index() == 0 && liveness.deadlock.load(Ordering::SeqCst))
        }
    }

    /// Cancels every green thread on this hub (and every one spawned from now on).
    fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        let live: Vec<u32> = (0..self.slots.borrow().len() as u32)
            .filter(|&key| self.slot(key).task.borrow().is_some())
            .collect();
        for key in live {
            if let Some(task) = self.slot(key).task.borrow().as_ref() {
                task.request_cancel();
            }
            self.wake_local(key, None);
        }
    }

    /// Runs green threads until the runtime shuts down and has gone quiet. If the loop itself
    /// panics, the hub fails: see [`fail`](Self::fail).
    pub(crate) fn run(&self) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.run_loop())) {
            self.fail(payload);
        }
    }

    // ANCHOR: run_loop
    fn run_loop(&self) {
        let liveness = self.shared.liveness.clone();
        loop {
            self.run_batch();
            self.drain_remote();
            if !self.shutting_down.get() {
                let main_over = self.main_done.get()
                    || (self.index() == 0 && liveness.deadlock.load(Ordering::SeqCst));
                if main_over && self.index() == 0 {
                    liveness.shutdown.store(true, Ordering::SeqCst);
                    self.wake_all_hubs();
                }
                if liveness.shutdown.load(Ordering::SeqCst) {
                    self.begin_shutdown();
                    continue;
                }
            } else if liveness.is_quiet() {
                self.stop();
                return;
            }
            self.poll_step();
            self.fire_timers();
        }
    }
    // ANCHOR_END: run_loop

    /// The runtime is quiet: give up what still waits and close the remote queue for good.
    fn stop(&self) {
        // Only threads outside the runtime can have queued this since it went quiet; a spawn
        // dropped here reports "cancelled" to its joiner.
        drop(self.shared.close_remote());
        self.abandon_all();
        self.orphan_sources();
    }

    /// Lets go of every descriptor this hub's poller watches (see `IoState::orphan`).
    fn orphan_sources(&self) {
        let sources: Vec<Arc<IoState>> = self.sources.borrow().iter().flatten().cloned().collect();
        for state in sources {
            state.orphan(&self.shared);
        }
    }

    /// The hub loop panicked: the hub stops for good, gives up its green threads and shuts the
    /// runtime down; `run` reports the failure once every other hub has stopped.
    fn fail(&self, payload: Box<dyn Any + Send>) {
        let message = crate::join::panic_message(&*payload).to_string();
        // Dropping a payload runs arbitrary code that may panic again; leak it instead.
        std::mem::forget(payload);
        let liveness = &self.shared.liveness;
        liveness.record_failure(self.index(), message);
        self.shutting_down.set(true);
        drop(self.shared.close_remote());
        self.shared.flags().handshake.take_notification();
        self.current.set(None);
        stack::set_running(RunningStack::NONE);
        self.abandon_all();
        self.orphan_sources();
        // Idle for good: its queue is closed, so nothing makes it leave the idle state again.
        liveness.enter_idle(self.index());
        self.wake_all_hubs();
        if liveness.check_quiet() {
            self.wake_all_hubs();
        }
    }

    /// Gives up every green thread still on this hub: each one's join completes as "cancelled"
    /// and its stack is leaked rather than unwound from outside, which could run its
    /// destructors' parks with no hub to return to.
    fn abandon_all(&self) {
        let mut names = Vec::new();
        for cell in self.slots.borrow().iter() {
            let Some(task) = cell.task.borrow_mut().take() else {
                continue;
            };
            names.push(task.name().unwrap_or("<unnamed>").to_string());
            // SAFETY: the hub loop is not running a coroutine (it returned or unwound), so no
            // reference into any coroutine cell is live.
            if let Some(coroutine) = unsafe { (*cell.coroutine.get()).take() } {
                std::mem::forget(coroutine);
            }
            if let Some(join) = cell.join.take() {
                // SAFETY: the coroutine has not returned (it is in the slot) and was just leaked,
                // so its body, and the packet it keeps alive, still exist (SlotCell::join).
                unsafe { (*join).abandon() };
            }
            // The header stays allocated: the leaked stack may still point at it.
            std::mem::forget(task);
        }
        self.live_tasks.set(0);
        let mid_unwind = self.unwinds.abandon();
        if mid_unwind > 0 {
            crate::sys::report(&format!(
                "greenhub: hub {}: {mid_unwind} of the green threads given up were in the middle \
                 of an unwind, which can never finish: std::thread::panicking() stays true on this \
                 OS thread from now on\n",
                self.index()
            ));
        }
        if !names.is_empty() {
            crate::sys::report(&format!(
                "greenhub: hub {}: {} green thread(s) still waiting when the runtime stopped \
                 ({}); their joins report \"cancelled\" and their stacks are leaked\n",
                self.index(),
                names.len(),
                names.join(", ")
            ));
        }
    }
}

impl Drop for Hub {
    /// Normally every green thread has finished or been given up by now; should the hub be
    /// dropped any other way, never let a suspended coroutine unwind here.
    fn drop(&mut self) {
        if self.live_tasks.get() > 0 {
            self.abandon_all();
        }
    }
}

/// A panic escaped a green thread's root: report it with the green thread's name and abort, as
/// std does when a thread's result panics on drop. Writes without allocating a panic of its own.
fn abort_escaped_panic(task: &Task, payload: Box<dyn Any + Send>) -> ! {
    crate::sys::report(&format!(
        "greenhub: a panic escaped green thread '{}' (id {}) after it finished (its result or \
         panic payload panicked while being dropped or reported): {}\nfatal runtime error: \
         green thread result panicked on drop, aborting\n",
        task.name().unwrap_or("<unnamed>"),
        task.id(),
        crate::join::panic_message(&*payload)
    ));
    std::mem::forget(payload);
    std::process::abort()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::remote::RemoteSpawn;
    use std::time::Duration;

    /// Stands in for a bug in the hub loop: the hub panics while it starts this "green thread".
    struct BreaksTheHub;

    impl RemoteSpawn for BreaksTheHub {
        fn start(self: Box<Self>, _hub: &Hub) {
            panic!("injected failure of the hub loop");
        }
    }

    /// A hub whose own loop panics stops the whole runtime with an error naming it, and no join
    /// of one of its green threads hangs: from a green thread of another hub or from an OS thread.
    #[test]
    fn a_hub_whose_loop_panics_stops_the_runtime_and_leaves_no_join_hanging() {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let run = std::thread::spawn(move || {
            let rt = crate::Runtime::builder().hubs(2).build().unwrap();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.run(move || {
                    let joined_here =
                        crate::spawn_on(1, || crate::sleep(Duration::from_secs(3600)));
                    let joined_elsewhere =
                        crate::spawn_on(1, || crate::sleep(Duration::from_secs(3600)));
                    handle_tx.send(joined_elsewhere).unwrap();
                    crate::sleep(Duration::from_millis(5));
                    with_hub(|hub| {
                        hub.runtime.hubs[1].push_remote(Remote::Spawn(Box::new(BreaksTheHub)))
                    });
                    // Given up by the failed hub, or this green thread is cancelled by the
                    // shutdown first: either way the join does not hang.
                    let _ = joined_here.join();
                })
            }))
        });
        let joined_elsewhere = handle_rx.recv().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || done_tx.send(joined_elsewhere.join()).unwrap());
        let joined = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a join from an OS thread hung");
        assert!(joined.unwrap_err().is_cancelled());
        let payload = run.join().unwrap().expect_err("run reports the failed hub");
        let message = crate::join::panic_message(&*payload).to_string();
        assert!(
            message.contains("hub 1 stopped") && message.contains("injected failure"),
            "{message}"
        );
    }
}
