//! What a green thread calls on its hub to wait: park (with or without a deadline), sleep,
//! yield, and the I/O budget's yield. Every blocking-looking call in the crate ends here.

use super::unwinding::Unwinding;
use super::Hub;
use crate::driver::TimerId;
use crate::task::{Interrupt, ParkedOn, Task};
use std::cell::Cell;
use std::time::Instant;

/// How many green threads run before the hub looks at remote wakes, timers and I/O again, so
/// that a crowd of busy green threads cannot starve the outside world; also how many times a
/// lone green thread's yield may return at once before the loop gets that look. Go's scheduler
/// looks at its global run queue every 61st schedule for the same fairness: a few dozen keeps
/// the look cheap per green thread run, and a prime does not fall into step with programs that
/// work in rounds of powers of two.
pub(super) const BATCH: usize = 61;

/// How many operations a green thread may complete without parking before it yields, so that a
/// client whose socket always has data cannot starve everyone else on its hub.
pub(crate) const IO_BUDGET: u32 = 128;

/// Says what the running green thread's parks wait for (see `greenhub::threads`) until it
/// drops, however the wait ends (including by unwinding).
struct WaitReason<'a> {
    task: Option<&'a Task>,
    before: ParkedOn,
}

impl<'a> WaitReason<'a> {
    fn new(task: Option<&'a Task>, on: ParkedOn) -> WaitReason<'a> {
        let before = task.map_or(ParkedOn::Park, |task| task.replace_parked_on(on));
        WaitReason { task, before }
    }
}

impl Drop for WaitReason<'_> {
    fn drop(&mut self) {
        if let Some(task) = self.task {
            task.replace_parked_on(self.before);
        }
    }
}

/// Counts one green thread in one of the hub's `Waits` counts until it drops,
/// however the wait ends (including by unwinding).
pub(crate) struct CountedWait<'a> {
    count: &'a Cell<usize>,
    _reason: WaitReason<'a>,
}

impl<'a> CountedWait<'a> {
    fn new(count: &'a Cell<usize>, reason: WaitReason<'a>) -> CountedWait<'a> {
        count.set(count.get() + 1);
        CountedWait {
            count,
            _reason: reason,
        }
    }
}

impl Drop for CountedWait<'_> {
    fn drop(&mut self) {
        self.count.set(self.count.get() - 1);
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
    /// Suspends the running green thread back to the hub loop.
    fn suspend(&self) {
        let yielder = self.running.yielder.get();
        // SAFETY: `yielder` was stored by the running coroutine at its start (see
        // `spawn_task`) and after each of its suspensions (below); it points into that
        // coroutine's own stack, which is alive while the coroutine is suspended or running.
        unsafe { (*yielder).suspend(()) };
        self.running.yielder.set(yielder);
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
        let due = crate::task::due(cancelled, scope)?;
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
        let task = self.current();
        self.park_task(task);
    }

    #[inline]
    fn park_task(&self, task: &Task) {
        if task.take_notification_local() {
            return;
        }
        if task.in_scope() {
            return self.park_task_in_scope(task);
        }
        self.suspend_parked(task);
    }

    /// Suspends `task`, the running green thread, marked parked until a wake makes it runnable.
    #[inline]
    fn suspend_parked(&self, task: &Task) {
        task.set_parked_local(self.running.batch_at.get());
        self.suspend();
        task.finish_park_local();
    }

    /// [`park_task`](Self::park_task) for a green thread in a `timeout` scope: the scope's timer
    /// ends the park when the scope expires. A scope arms its timer only while its green thread
    /// is parked, so a call that finishes within its scope without parking (the common case)
    /// never touches the timer wheel.
    ///
    /// The scope may have expired since the caller last looked for an interruption (a wait
    /// checks under its own lock, then registers, unlocks and parks). If that expiry can
    /// interrupt the green thread, the park returns at once, as a spurious wake: the caller
    /// looks again and unwinds. If it cannot (the green thread is unwinding or finishing), the
    /// park arms nothing for the scope: a timer in the past would only wake it again and again.
    #[cold]
    #[inline(never)]
    fn park_task_in_scope(&self, task: &Task) {
        let scope = task.scope();
        let timer = match scope.deadline() {
            Some(_) if scope.has_expired() => {
                if self.interrupt_of(task).is_some() {
                    return;
                }
                None
            }
            deadline => deadline.map(|deadline| self.timer(deadline)),
        };
        self.suspend_parked(task);
        drop(timer);
    }

    /// Parks the running green thread until woken (or spuriously), first unwinding if it was
    /// cancelled or its timeout scope expired. The primitive every blocking-looking call is built
    /// on: callers check their condition after it returns, and park again if they must.
    pub(crate) fn park(&self) {
        let task = self.current();
        self.check_interrupt(task);
        self.park_task(task);
    }

    /// [`park_raw`](Self::park_raw) (until `deadline`, if any) for a green thread that just
    /// joined a `sync` wait list: counted while it is parked, so that a hub going idle can tell
    /// the would-block-forever check that a thread holding the primitive may still wake it.
    pub(crate) fn park_in_wait_list(&self, deadline: Option<Instant>) {
        let _counted = CountedWait::new(
            &self.waits.in_wait_lists,
            WaitReason::new(self.current_task_ref(), ParkedOn::Sync),
        );
        match deadline {
            Some(deadline) => self.park_until_raw(deadline),
            None => self.park_raw(),
        }
    }

    /// Arms a timer that wakes the running green thread at `deadline`.
    pub(crate) fn timer(&self, deadline: Instant) -> TimerGuard<'_> {
        let key = self.current_key();
        let id = self.timers.borrow_mut().insert(deadline, key);
        TimerGuard { hub: self, id }
    }

    /// [`park`](Self::park), until woken or until `deadline`.
    pub(crate) fn park_until(&self, deadline: Instant) {
        self.check_interrupt(self.current());
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
        self.sleep_until_future(deadline);
    }

    /// [`sleep_until`](Self::sleep_until) for a deadline the caller knows is still ahead (it
    /// just added a non-zero duration to the clock), saving a clock read.
    pub(crate) fn sleep_until_future(&self, deadline: Instant) {
        let timer = self.timer(deadline);
        let _reason = WaitReason::new(self.current_task_ref(), ParkedOn::Sleep);
        // Its timer fires only once the hub's clock has passed the deadline, so "has it fired?"
        // answers "is it time?" without reading the clock once per wake-up.
        while self.timers.borrow().is_armed(timer.id) {
            self.park();
        }
        drop(timer);
        self.check_interrupt(self.current());
    }

    /// Lets every other runnable green thread run once, then continues. A cancellation point
    /// on the way in and, when it did let others run, on the way out.
    pub(crate) fn yield_now(&self) {
        let task = self.current();
        self.check_interrupt(task);
        if self.yield_task(self.current_key()) {
            self.check_interrupt(task);
        }
    }

    /// Yields the running green thread `key`; returns whether it was suspended.
    #[inline]
    fn yield_task(&self, key: u32) -> bool {
        // Nothing else can run: return at once, except once per BATCH so that the loop still
        // gets to look at timers, remote wakes and I/O.
        let quick = self.running.quick_yields.get();
        if quick < BATCH && self.run_queue.borrow().is_empty() && !self.has_remote_work() {
            self.running.quick_yields.set(quick + 1);
            return false;
        }
        self.run_queue.borrow_mut().push_back(key);
        self.suspend();
        true
    }

    /// Counts the current green thread as waiting on something outside the hub (I/O
    /// readiness, a blocking-pool job), which keeps the hub from counting as idle, until the
    /// guard drops.
    pub(crate) fn wait_on_outside(&self) -> CountedWait<'_> {
        CountedWait::new(
            &self.waits.outside,
            WaitReason::new(self.current_task_ref(), ParkedOn::Outside),
        )
    }

    /// Called after each I/O operation that completed without parking: once the budget is
    /// spent, the green thread yields so others on this hub get their turn. Not a cancellation
    /// point (unlike [`yield_now`](Self::yield_now)): the operation has happened, and its result
    /// goes back to the caller.
    pub(crate) fn spend_io_budget(&self) {
        let Some(current) = self.running.current.get() else {
            return;
        };
        let left = self.running.io_budget.get().saturating_sub(1);
        self.running.io_budget.set(left);
        if left == 0 {
            self.yield_task(current.key);
        }
    }
}
