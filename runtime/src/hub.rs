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

use crate::reactor::{Events, Poller, Waker};
use crate::runtime::RuntimeShared;
use crate::source::{IoState, IO_BUDGET};
use crate::stack::{self, RunningStack, StackPool};
use crate::task::Task;
use crate::timer::{TimerHeap, TimerId};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many green threads run before the hub looks at remote wakes, timers and I/O again, so
/// that a crowd of busy green threads cannot starve the outside world.
const BATCH: usize = 61;

/// A hub about to wait at least this long (or with no deadline) releases spare stack pages.
const TRIM_WHEN_IDLE_FOR: Duration = Duration::from_millis(10);

pub(crate) type GreenCoroutine = Coroutine<(), (), (), DefaultStack>;
type HubYielder = Yielder<(), ()>;

/// Work that other threads hand to a hub.
pub(crate) enum Remote {
    /// Make this (parked) green thread runnable.
    Wake(Arc<Task>),
    /// Start a green thread on this hub (`spawn_on`).
    Spawn(Box<dyn FnOnce(&Hub) + Send>),
    /// A descriptor this hub polls was closed on another thread: free its token.
    ReleaseSource(usize),
}

/// Runtime-wide facts that decide whether anything can still happen.
pub(crate) struct Liveness {
    hubs: Box<[HubFlags]>,
    idle_hubs: AtomicUsize,
    /// Bumped whenever a hub stops being idle, so that a check can tell that its reads of
    /// several hubs' flags saw one consistent moment.
    epoch: AtomicUsize,
    pub(crate) shutdown: AtomicBool,
    pub(crate) deadlock: AtomicBool,
    main_waker: Waker,
}

/// One hub's flags, padded so hubs do not share a cache line.
#[repr(align(128))]
#[derive(Default)]
struct HubFlags {
    /// Live [`GreenThread`](crate::GreenThread) handles to this hub's green threads.
    external_wakers: AtomicUsize,
    /// Set when the hub's remote queue has work it has not drained; deduplicates wakes.
    notified: AtomicBool,
    /// Set while the hub is (about to be) asleep in the poller.
    sleeping: AtomicBool,
    /// Set while the hub has nothing at all to do: no runnable green thread, timer or I/O waiter.
    idle: AtomicBool,
}

impl Liveness {
    pub(crate) fn new(hubs: usize, main_waker: Waker) -> Liveness {
        Liveness {
            hubs: (0..hubs).map(|_| HubFlags::default()).collect(),
            idle_hubs: AtomicUsize::new(0),
            epoch: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            deadlock: AtomicBool::new(false),
            main_waker,
        }
    }

    fn enter_idle(&self, hub: usize) {
        if !self.hubs[hub].idle.swap(true, Ordering::SeqCst) {
            self.idle_hubs.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn leave_idle(&self, hub: usize) {
        let flags = &self.hubs[hub];
        if flags.idle.load(Ordering::SeqCst) && flags.idle.swap(false, Ordering::SeqCst) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.idle_hubs.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Every hub is idle, no remote work is pending and nobody holds a handle that could wake a
    /// green thread: the main green thread can never run again. Tell the main hub.
    ///
    /// The flags are read one after another, so the reads are bracketed by the epoch: if no hub
    /// left the idle state in between, all of them were idle for the whole check.
    fn check_deadlock(&self) {
        let before = self.epoch.load(Ordering::SeqCst);
        let stuck = self.idle_hubs.load(Ordering::SeqCst) == self.hubs.len()
            && self.hubs.iter().all(|h| {
                h.external_wakers.load(Ordering::SeqCst) == 0 && !h.notified.load(Ordering::SeqCst)
            })
            && !self.shutdown.load(Ordering::SeqCst);
        if stuck
            && self.epoch.load(Ordering::SeqCst) == before
            && !self.deadlock.swap(true, Ordering::SeqCst)
        {
            // A failed wake leaves the main hub asleep; nothing better can be done from here.
            let _ = self.main_waker.wake();
        }
    }
}

/// The part of a hub that other threads use to hand it work.
pub(crate) struct HubShared {
    pub(crate) index: usize,
    remote: Mutex<Vec<Remote>>,
    waker: Waker,
    pub(crate) liveness: Arc<Liveness>,
    /// For the blocking detector (only kept up to date when it is on): the green thread
    /// running now and since when.
    pub(crate) running: Mutex<Option<(Arc<Task>, Instant)>>,
}

impl HubShared {
    pub(crate) fn new(index: usize, waker: Waker, liveness: Arc<Liveness>) -> HubShared {
        HubShared {
            index,
            remote: Mutex::new(Vec::new()),
            waker,
            liveness,
            running: Mutex::new(None),
        }
    }

    fn flags(&self) -> &HubFlags {
        &self.liveness.hubs[self.index]
    }

    pub(crate) fn push_remote(&self, work: Remote) {
        // Leave the idle state before the work is visible, so that no deadlock check can see
        // this hub idle while it has work to do.
        self.liveness.leave_idle(self.index);
        self.remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(work);
        let flags = self.flags();
        if !flags.notified.swap(true, Ordering::SeqCst) && flags.sleeping.load(Ordering::SeqCst) {
            // A failed eventfd write cannot be reported to the waker; the hub still sees
            // `notified` the next time it wakes for any other reason.
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn wake_up(&self) {
        let _ = self.waker.wake();
    }

    pub(crate) fn external_waker_added(&self) {
        self.flags().external_wakers.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn external_waker_dropped(&self) {
        if self.flags().external_wakers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.liveness.check_deadlock();
        }
    }
}

/// One entry of a hub's slot table. Cells are boxed and never freed while the hub runs, so a
/// coroutine is resumed in place through a stable address while the table itself may grow.
#[derive(Default)]
struct SlotCell {
    task: RefCell<Option<Arc<Task>>>,
    /// # Invariant
    /// Touched only by the hub loop (`run_task`, `spawn_task`, `abandon_stuck_tasks`), never
    /// while a `&mut` obtained from it is live: the loop is not re-entrant.
    coroutine: UnsafeCell<Option<GreenCoroutine>>,
    running: Cell<RunningStack>,
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
    /// Green threads of this hub parked on I/O; a hub with any is not idle.
    io_waiters: Cell<usize>,
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
    /// The hub running on this OS thread, set for the duration of `Hub::run_loop`.
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

/// Cancels a green thread at its park points: raised by `check_cancel`, caught by the
/// green thread's root, and reported by `join` as "cancelled".
pub(crate) struct Cancelled;

/// Keeps a hub from counting as idle while one of its green threads waits on I/O.
pub(crate) struct IoWaitGuard<'a> {
    hub: &'a Hub,
}

impl Drop for IoWaitGuard<'_> {
    fn drop(&mut self) {
        self.hub.io_waiters.set(self.hub.io_waiters.get() - 1);
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
            io_waiters: Cell::new(0),
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

    /// Registers a new green thread on this hub and makes it runnable.
    pub(crate) fn spawn_task(
        &self,
        task: Arc<Task>,
        stack_size: Option<usize>,
        body: impl FnOnce(&Task) + 'static,
    ) -> std::io::Result<()> {
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
            body(unsafe { &*task });
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
        cell.running.set(running);
        // SAFETY: the slot was free, so no coroutine in it is running or borrowed (SlotCell).
        unsafe { *cell.coroutine.get() = Some(coroutine) };
        self.live_tasks.set(self.live_tasks.get() + 1);
        self.run_queue.borrow_mut().push_back(key);
        Ok(())
    }

    fn slot(&self, key: u32) -> &SlotCell {
        let cell: *const SlotCell = &*self.slots.borrow()[key as usize];
        // SAFETY: slot cells are boxed and only dropped in `abandon_stuck_tasks` and with the
        // hub itself, never while a reference from here is in use; growing the table moves the
        // boxes, not the cells.
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

    /// Unwinds the running green thread if it was cancelled or its timeout scope expired.
    /// Never during an unwind: a destructor that parks while its green thread is being
    /// cancelled parks normally.
    pub(crate) fn check_cancel(&self, task: &Task) {
        if task.is_cancel_requested() && !std::thread::panicking() {
            std::panic::resume_unwind(Box::new(Cancelled));
        }
        crate::timeout::check_expired(task.scope());
    }

    /// Parks the running green thread until woken (or spuriously). This is the primitive that
    /// every blocking-looking call is built on.
    pub(crate) fn park(&self) {
        let (task, _) = self.current();
        self.check_cancel(task);
        if task.take_notification_local() {
            return;
        }
        task.set_parked_local();
        self.suspend();
        task.finish_park_local();
        self.check_cancel(task);
    }

    /// Arms a timer that wakes the running green thread at `deadline`.
    pub(crate) fn timer(&self, deadline: Instant) -> TimerGuard<'_> {
        let (_, key) = self.current();
        let id = self.timers.borrow_mut().insert(deadline, key);
        TimerGuard { hub: self, id }
    }

    /// Parks until woken or until `deadline`.
    pub(crate) fn park_until(&self, deadline: Instant) {
        let _timer = self.timer(deadline);
        self.park();
    }

    /// Parks until `deadline`, ignoring wake-ups that come earlier.
    pub(crate) fn sleep_until(&self, deadline: Instant) {
        if Instant::now() >= deadline {
            return self.yield_now();
        }
        let _timer = self.timer(deadline);
        while Instant::now() < deadline {
            self.park();
        }
    }

    /// Lets every other runnable green thread run once, then continues.
    pub(crate) fn yield_now(&self) {
        let (task, key) = self.current();
        self.check_cancel(task);
        // Nothing else can run: return at once, except once per BATCH so that the loop still
        // gets to look at timers, remote wakes and I/O.
        let quick = self.quick_yields.get();
        if quick < BATCH && self.run_queue.borrow().is_empty() && !self.has_remote_work() {
            self.quick_yields.set(quick + 1);
            return;
        }
        self.run_queue.borrow_mut().push_back(key);
        self.suspend();
        self.check_cancel(task);
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

    /// Forgets a registration. `fd`, when given, is still open and is removed from the poller.
    pub(crate) fn release_source(&self, token: usize, fd: Option<std::os::fd::RawFd>) {
        if let Some(fd) = fd {
            // Closing the descriptor removes it anyway; a failure here changes nothing.
            let _ = self.poller.deregister(fd);
        }
        self.released_tokens.borrow_mut().push(token);
    }

    /// Counts the current green thread as waiting on I/O until the guard drops.
    pub(crate) fn io_wait_begins(&self) -> IoWaitGuard<'_> {
        self.io_waiters.set(self.io_waiters.get() + 1);
        IoWaitGuard { hub: self }
    }

    /// Called after each I/O operation that completed without parking: once the budget is
    /// spent, the green thread yields so others on this hub get their turn.
    pub(crate) fn spend_io_budget(&self) {
        if self.current.get().is_none() {
            return;
        }
        let left = self.io_budget.get().saturating_sub(1);
        self.io_budget.set(left);
        if left == 0 {
            self.yield_now();
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
        if let CoroutineResult::Return(()) = result {
            // SAFETY: as above; the coroutine has finished and no reference to it remains.
            let finished = unsafe { (*slot.coroutine.get()).take() }.expect("just resumed");
            let task = slot.task.borrow_mut().take();
            self.free_slots.borrow_mut().push(key);
            self.live_tasks.set(self.live_tasks.get() - 1);
            self.stacks.borrow_mut().give(finished.into_stack());
            drop(task);
            if self.main_key.get() == Some(key) {
                self.main_done.set(true);
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
        self.shared.flags().notified.load(Ordering::Relaxed)
    }

    fn drain_remote(&self) {
        if !self.has_remote_work() || !self.shared.flags().notified.swap(false, Ordering::SeqCst) {
            return;
        }
        let work =
            std::mem::take(&mut *self.shared.remote.lock().unwrap_or_else(|e| e.into_inner()));
        for item in work {
            match item {
                Remote::Wake(task) => {
                    task.clear_remote_wake();
                    let key = task.key();
                    if key != u32::MAX {
                        self.wake_local(key, Some(&task));
                    } else {
                        // Not registered yet (a spawn_on in flight): keep the token for later.
                        task.notify_local();
                    }
                }
                Remote::Spawn(start) => start(self),
                Remote::ReleaseSource(token) => self.release_source(token, None),
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
            && self.io_waiters.get() == 0
    }

    fn poll_step(&self) {
        let runnable = !self.run_queue.borrow().is_empty();
        if runnable && self.io_registered.get() == 0 {
            // Nothing to peek at: remote work is noticed through `notified` by drain_remote.
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
        let idle = sleeping && self.locally_idle();
        let (flags, liveness) = (self.shared.flags(), &self.shared.liveness);
        if sleeping {
            flags.sleeping.store(true, Ordering::SeqCst);
            if idle {
                liveness.enter_idle(self.index());
            }
            if flags.notified.load(Ordering::SeqCst) || self.must_leave_loop() {
                self.leave_sleep();
                return;
            }
            if idle {
                liveness.check_deadlock();
            }
        }
        let releasable = std::mem::take(&mut *self.released_tokens.borrow_mut());
        let polled = self.poller.poll(&mut self.events.borrow_mut(), timeout);
        if let Err(err) = polled {
            eprintln!("greenhub: hub {}: poll failed: {err}", self.index());
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

    fn leave_sleep(&self) {
        self.shared.flags().sleeping.store(false, Ordering::SeqCst);
        self.shared.liveness.leave_idle(self.index());
    }

    /// Whether the loop has something to do before sleeping: shutdown or a deadlock verdict.
    fn must_leave_loop(&self) -> bool {
        let liveness = &self.shared.liveness;
        (liveness.shutdown.load(Ordering::SeqCst) && !self.shutting_down.get())
            || (self.index() == 0 && liveness.deadlock.load(Ordering::SeqCst))
            || (self.shutting_down.get() && self.locally_idle())
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

    /// Runs green threads until the runtime shuts down and this hub's green threads are done.
    // ANCHOR: run_loop
    pub(crate) fn run_loop(&self) {
        let liveness = self.shared.liveness.clone();
        loop {
            self.run_batch();
            self.drain_remote();
            if !self.shutting_down.get() {
                let main_over = self.main_done.get()
                    || (self.index() == 0 && liveness.deadlock.load(Ordering::SeqCst));
                if main_over && self.index() == 0 {
                    liveness.shutdown.store(true, Ordering::SeqCst);
                    for hub in &self.runtime.hubs[1..] {
                        hub.wake_up();
                    }
                }
                if liveness.shutdown.load(Ordering::SeqCst) {
                    self.begin_shutdown();
                    continue;
                }
            } else if self.live_tasks.get() == 0 {
                return;
            } else if self.locally_idle() && !self.shared.flags().notified.load(Ordering::SeqCst) {
                self.abandon_stuck_tasks();
                return;
            }
            self.poll_step();
            self.fire_timers();
        }
    }
    // ANCHOR_END: run_loop

    /// Green threads still parked after cancellation, with no timer or I/O that could ever wake
    /// them (a destructor that waits forever). Their stacks are leaked rather than unwound from
    /// outside, which could run their destructors' parks with no hub to return to.
    fn abandon_stuck_tasks(&self) {
        let mut names = Vec::new();
        for cell in self.slots.borrow().iter() {
            if let Some(task) = cell.task.borrow_mut().take() {
                names.push(task.name().unwrap_or("<unnamed>").to_string());
            }
            // SAFETY: the hub loop is between resumes, so no coroutine is running.
            if let Some(coroutine) = unsafe { (*cell.coroutine.get()).take() } {
                std::mem::forget(coroutine);
            }
        }
        eprintln!(
            "greenhub: hub {}: {} green thread(s) still waiting at shutdown after being \
             cancelled ({}); their stacks are leaked",
            self.index(),
            names.len(),
            names.join(", ")
        );
        self.live_tasks.set(0);
    }
}
