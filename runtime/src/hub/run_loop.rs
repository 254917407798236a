//! The hub loop: run a batch of green threads, take remote work, poll, fire timers; and how the
//! loop ends, when the runtime goes quiet or the hub fails.

use super::context::set_running_stack;
use super::park::{BATCH, IO_BUDGET};
use super::shared::Remote;
use super::{Current, Hub};
use crate::task::{Task, UNREGISTERED};
use corosensei::CoroutineResult;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A hub about to wait at least this long (or with no deadline) releases spare stack pages.
const TRIM_WHEN_IDLE_FOR: Duration = Duration::from_millis(10);

/// A hub with nothing to do that took work from another thread at most this long ago spins
/// before it sleeps, as Go's idle Ps do: in an exchange between hubs the answer often comes
/// sooner than a sleeping hub could be woken (an eventfd write, and 17 to 29 us for the kernel
/// to wake a thread on the other core here). A hub with no recent remote work sleeps at once,
/// so an idle runtime uses no CPU.
const SPIN_AFTER_REMOTE_WORK: Duration = Duration::from_micros(200);

/// How long such a hub spins at most (never past its next timer).
const SPIN_FOR: Duration = Duration::from_micros(50);

/// How long a spinning hub that saw remote work come in waits for more before it takes it.
const SETTLE: Duration = Duration::from_micros(1);

impl Hub {
    /// Wakes the green thread in slot `key` if `expected` is still the one living there.
    pub(super) fn wake_local(&self, key: u32, expected: Option<&Arc<Task>>) {
        let slot = self.slots.cell(key);
        let task = slot.task.borrow();
        let Some(task) = task.as_ref() else { return };
        if expected.is_some_and(|e| !Arc::ptr_eq(e, task)) {
            return;
        }
        if task.notify_local() {
            self.run_queue.borrow_mut().push_back(key);
        }
    }

    /// Wakes `task`, one of this hub's green threads, from the hub's own thread.
    pub(super) fn wake_task_here(&self, task: &Task) {
        if task.notify_local() {
            self.run_queue.borrow_mut().push_back(task.key());
        }
    }

    fn run_task(&self, key: u32) {
        let slot = self.slots.cell(key);
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
        self.running.current.set(Some(Current { key, task }));
        self.running.io_budget.set(IO_BUDGET);
        if self.runtime.blocking_threshold.is_some() {
            let running = slot
                .task
                .borrow()
                .clone()
                .map(|task| (task, Instant::now()));
            self.shared.set_running(running);
        }
        set_running_stack(&slot.running);
        let result = coroutine.resume(());
        set_running_stack(std::ptr::null());
        if self.runtime.blocking_threshold.is_some() {
            self.shared.set_running(None);
        }
        self.running.current.set(None);
        match result {
            CoroutineResult::Yield(()) => self.unwinds.suspending(header),
            CoroutineResult::Return(()) => {
                // SAFETY: as above; the coroutine has finished and no reference to it remains.
                let finished = unsafe { (*slot.coroutine.get()).take() }.expect("just resumed");
                let task = slot.task.borrow_mut().take();
                slot.join.set(None);
                self.slots.release(key);
                self.stacks.borrow_mut().give(finished.into_stack());
                drop(task);
                if self.lifecycle.main_key.get() == Some(key) {
                    self.lifecycle.main_done.set(true);
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
        self.running.quick_yields.set(0);
        self.running.batch_at.set(crate::sys::coarse_now_nanos());
        for _ in 0..BATCH {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(key) => self.run_task(key),
                None => break,
            }
            // Quick yields count against the batch too: a lone yielder has had its turn.
            if self.running.quick_yields.get() >= BATCH {
                break;
            }
        }
    }

    pub(super) fn has_remote_work(&self) -> bool {
        self.shared.flags().handshake.is_notified()
    }

    fn drain_remote(&self) {
        if !self.shared.flags().handshake.take_notification() {
            return;
        }
        self.remote_work_at.set(Some(Instant::now()));
        for item in self.shared.take_remote() {
            match item {
                Remote::Wake(task) => {
                    task.clear_remote_wake();
                    let key = task.key();
                    if key != UNREGISTERED {
                        self.wake_local(key, Some(&task));
                    } else {
                        // Not registered yet (a spawn_on in flight): keep the token for later.
                        task.notify_local();
                    }
                }
                Remote::Spawn(start) => start.start(self),
                Remote::ReleaseSource(token) => self.io.release(token),
                Remote::Visit(visit) => visit(self),
            }
        }
    }

    fn fire_timers(&self) {
        let mut timers = self.timers.borrow_mut();
        if timers.is_empty() {
            return;
        }
        // Waking touches the slots and the run queue, never the timers.
        timers.fire_due(Instant::now(), |key| self.wake_local(key, None));
    }

    /// True when nothing on this hub can happen without help from outside.
    fn locally_idle(&self) -> bool {
        self.run_queue.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.waits.outside.get() == 0
    }

    fn poll_step(&self) {
        let runnable = !self.run_queue.borrow().is_empty();
        if runnable && self.io.registered() == 0 {
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
        // stacks, and the spare headers, that a burst left behind. Slice by slice, polling in
        // between.
        if timeout.is_none_or(|t| t >= TRIM_WHEN_IDLE_FOR) {
            let more_stacks = self.stacks.borrow_mut().trim();
            if self.trim_spare_tasks() || more_stacks {
                timeout = Some(Duration::ZERO);
            }
        }
        let sleeping = timeout != Some(Duration::ZERO);
        if sleeping && self.spin_for_remote_work(timeout) {
            return;
        }
        if sleeping && !self.prepare_to_sleep() {
            return;
        }
        if let Err(err) = self.io.poll(timeout) {
            crate::sys::report(&format!(
                "greenhub: hub {}: poll failed: {err}\n",
                self.index()
            ));
            std::thread::sleep(Duration::from_millis(10));
        }
        if sleeping {
            self.leave_sleep();
        }
        self.io.dispatch();
    }

    /// Spins instead of sleeping for a while when remote work came in a moment ago (see
    /// [`SPIN_AFTER_REMOTE_WORK`]), watching the remote queue and, when the hub has descriptors,
    /// peeking at the poller. Returns true when there is something to do now; false when the
    /// hub should go to sleep after all.
    fn spin_for_remote_work(&self, timeout: Option<Duration>) -> bool {
        let Some(at) = self.remote_work_at.get() else {
            return false;
        };
        let start = Instant::now();
        if start.saturating_duration_since(at) > SPIN_AFTER_REMOTE_WORK {
            return false;
        }
        // Spin once per burst of remote work: if nothing comes, the next look sleeps at once.
        self.remote_work_at.set(None);
        let until = start + timeout.map_or(SPIN_FOR, |t| t.min(SPIN_FOR));
        let peek_at_io = self.io.registered() > 0;
        loop {
            for _ in 0..64 {
                if self.has_remote_work() {
                    // Let a little more arrive first, so that a stream between hubs is still
                    // taken in batches rather than a message at a time.
                    let settle = Instant::now() + SETTLE;
                    while Instant::now() < settle {
                        std::hint::spin_loop();
                    }
                    return true;
                }
                std::hint::spin_loop();
            }
            if peek_at_io {
                if self.io.poll(Some(Duration::ZERO)).is_ok() {
                    self.io.dispatch();
                }
                if !self.run_queue.borrow().is_empty() {
                    return true;
                }
            }
            if Instant::now() >= until {
                return false;
            }
        }
    }

    /// The hub is about to sleep in its poller: tells the other hubs (idleness, the sleep
    /// handshake) and runs the runtime-wide checks an idle hub owes. Returns false when it must
    /// not sleep after all (remote work came in, or the loop has something to do first).
    fn prepare_to_sleep(&self) -> bool {
        let liveness = &self.shared.liveness;
        let idle = self.locally_idle();
        if idle {
            liveness.enter_idle(self.index(), self.waits.in_wait_lists.get());
        }
        if !self.shared.flags().handshake.begin_sleep() || self.must_leave_loop() {
            self.leave_sleep();
            return false;
        }
        if idle {
            if self.lifecycle.shutting_down.get() {
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
        if self.lifecycle.shutting_down.get() {
            liveness.is_quiet()
        } else {
            liveness.shutdown.load(Ordering::SeqCst)
                || (self.index() == 0 && liveness.deadlock.load(Ordering::SeqCst))
        }
    }

    /// Cancels every green thread on this hub (and every one spawned from now on).
    fn begin_shutdown(&self) {
        self.lifecycle.shutting_down.set(true);
        for key in self.slots.occupied() {
            if let Some(task) = self.slots.cell(key).task.borrow().as_ref() {
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
            if !self.lifecycle.shutting_down.get() {
                let main_over = self.lifecycle.main_done.get()
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
        for state in self.io.sources() {
            state.orphan(&*self.shared);
        }
    }

    /// The hub loop panicked: the hub stops for good, gives up its green threads and shuts the
    /// runtime down; `run` reports the failure once every other hub has stopped.
    fn fail(&self, payload: Box<dyn Any + Send>) {
        let message = super::interrupt::panic_message(&*payload).to_string();
        // Dropping a payload runs arbitrary code that may panic again; leak it instead.
        std::mem::forget(payload);
        let liveness = &self.shared.liveness;
        liveness.record_failure(self.index(), message);
        self.lifecycle.shutting_down.set(true);
        drop(self.shared.close_remote());
        self.shared.flags().handshake.take_notification();
        self.running.current.set(None);
        set_running_stack(std::ptr::null());
        self.abandon_all();
        self.orphan_sources();
        // Idle for good: its queue is closed, so nothing makes it leave the idle state again.
        liveness.enter_idle(self.index(), 0);
        self.wake_all_hubs();
        if liveness.check_quiet() {
            self.wake_all_hubs();
        }
    }
}
