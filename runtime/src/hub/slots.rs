//! The hub's table of green threads: each slot holds a coroutine, its header and its join
//! packet, under a key that the run queue, timers and wakes refer to. Also how a green thread is
//! added to the table, and how the hub gives up the ones left when it stops.

use super::stack_mapping::GreenStack;
use super::{stack::RunningStack, Hub};
use crate::task::{LocalMap, Task};
use corosensei::{Coroutine, Yielder};
use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

pub(super) type GreenCoroutine = Coroutine<(), (), (), GreenStack>;
type HubYielder = Yielder<(), ()>;

/// How many spare task headers a hub keeps while it is busy: enough for a burst of green
/// threads as big as the stack pool's, so that the next burst reuses them instead of allocating
/// and writing 10,000 fresh headers (a tenth of a 10,000-sleeper round's cache misses went to
/// malloc and the copy into the new allocation). A header is about 200 bytes: 3 MiB at most.
const SPARE_TASKS: usize = 16 * 1024;

/// How many spare headers a hub keeps once it has time to tidy up (see
/// [`Hub::trim_spare_tasks`]), so that a burst leaves no memory behind.
const SPARE_TASKS_WHEN_IDLE: usize = 256;

/// What a green thread runs: consumed by `run`, on the green thread's own stack.
pub(crate) trait GreenBody: 'static {
    fn run(self, task: &Task);

    /// What completes the green thread's join as "cancelled", unless it completed already,
    /// when the hub gives the green thread up for good. Unsafe to call on any header but the
    /// one this body runs as: the join packet holds outcomes of the body's result type.
    fn abandoner(&self) -> unsafe fn(&Task);
}

/// One entry of a hub's slot table. Cells are boxed and never freed while the hub runs, so a
/// coroutine is resumed in place through a stable address while the table itself may grow.
#[derive(Default)]
pub(super) struct SlotCell {
    pub(super) task: RefCell<Option<Arc<Task>>>,
    /// # Invariant
    /// Touched only by the hub loop (`run_task`, `spawn_task`, `abandon_all`), never while a
    /// `&mut` obtained from it is live: the loop is not re-entrant.
    pub(super) coroutine: UnsafeCell<Option<GreenCoroutine>>,
    pub(super) running: Cell<RunningStack>,
    /// Completes the green thread's join if the hub has to give the green thread up.
    ///
    /// # Invariant
    /// Set while the slot's coroutine exists and has not returned, to the
    /// [`GreenBody::abandoner`] of its body, which runs as the slot's `task`.
    pub(super) join: Cell<Option<unsafe fn(&Task)>>,
    /// The green thread's green-local values; emptied by the green thread itself when its
    /// function is done (see `super::locals`), so a reused slot starts with none.
    pub(super) locals: LocalMap,
}

/// The slot table, its free keys, and spare headers to save an allocation per spawn.
#[derive(Default)]
pub(super) struct Slots {
    // Boxed on purpose (clippy's vec_box): cells must keep their address while the table grows.
    #[allow(clippy::vec_box)]
    cells: RefCell<Vec<Box<SlotCell>>>,
    free: RefCell<Vec<u32>>,
    live: Cell<usize>,
    /// Headers of joined green threads.
    spare_tasks: RefCell<Vec<Arc<Task>>>,
}

impl Slots {
    pub(super) fn cell(&self, key: u32) -> &SlotCell {
        let cell: *const SlotCell = &*self.cells.borrow()[key as usize];
        // SAFETY: slot cells are boxed and only dropped with the hub itself, never while a
        // reference from here is in use; growing the table moves the boxes, not the cells.
        unsafe { &*cell }
    }

    /// How many green threads the table holds.
    pub(super) fn live(&self) -> usize {
        self.live.get()
    }

    /// The keys of every slot that holds a green thread.
    pub(super) fn occupied(&self) -> Vec<u32> {
        (0..self.cells.borrow().len() as u32)
            .filter(|&key| self.cell(key).task.borrow().is_some())
            .collect()
    }

    fn allocate(&self) -> u32 {
        self.live.set(self.live.get() + 1);
        match self.free.borrow_mut().pop() {
            Some(key) => key,
            None => {
                let mut cells = self.cells.borrow_mut();
                cells.push(Box::default());
                (cells.len() - 1) as u32
            }
        }
    }

    /// The green thread in slot `key` has returned: its slot is free again.
    pub(super) fn release(&self, key: u32) {
        self.free.borrow_mut().push(key);
        self.live.set(self.live.get() - 1);
    }
}

impl Hub {
    /// A header for a new green thread on this hub, recycled when one is spare.
    pub(crate) fn new_task(&self, name: Option<Box<str>>) -> Arc<Task> {
        if let Some(mut task) = self.slots.spare_tasks.borrow_mut().pop() {
            if let Some(header) = Arc::get_mut(&mut task) {
                header.reuse(name);
                return task;
            }
        }
        Arc::new(Task::new(name, self.shared.clone()))
    }

    /// Takes back the header of a joined green thread if nobody else refers to it.
    pub(crate) fn recycle_task(&self, mut task: Arc<Task>) {
        if task.lives_on(&*self.shared) && Arc::get_mut(&mut task).is_some() {
            let mut spare = self.slots.spare_tasks.borrow_mut();
            if spare.len() < SPARE_TASKS {
                spare.push(task);
            }
        }
    }

    /// Frees up to a slice of the spare headers beyond [`SPARE_TASKS_WHEN_IDLE`]; returns
    /// whether more remain. Called when the hub is about to wait a while with nothing to run,
    /// slice by slice as the stack pool's trim, so that a hub woken meanwhile answers soon.
    pub(super) fn trim_spare_tasks(&self) -> bool {
        const SLICE: usize = 1024;
        let mut spare = self.slots.spare_tasks.borrow_mut();
        if spare.len() <= SPARE_TASKS_WHEN_IDLE {
            return false;
        }
        let keep = spare.len().saturating_sub(SLICE).max(SPARE_TASKS_WHEN_IDLE);
        let freed = spare.split_off(keep);
        drop(spare); // dropping headers never reaches back into the slots, but hold nothing
        drop(freed);
        keep > SPARE_TASKS_WHEN_IDLE
    }

    /// Registers a new green thread on this hub and makes it runnable. Its body's join packet
    /// is completed as "cancelled" should the hub ever have to give the green thread up.
    pub(crate) fn spawn_task(
        &self,
        task: Arc<Task>,
        stack_size: Option<usize>,
        body: impl GreenBody,
    ) -> std::io::Result<()> {
        let join = body.abandoner();
        let stack = self.stacks.borrow_mut().take(stack_size)?;
        let running = RunningStack::of(&stack, &task);
        if self.lifecycle.shutting_down.get() {
            task.request_cancel();
        }
        let coroutine = GreenCoroutine::with_stack(stack, move |yielder: &HubYielder, ()| {
            let task = super::with_hub(|hub| {
                hub.running.yielder.set(yielder);
                hub.current() as *const Task
            })
            .expect("a green thread runs on its hub");
            // SAFETY: the slot holds the task's Arc until this coroutine has returned.
            let task = unsafe { &*task };
            // Nothing may unwind out of a coroutine into the hub: see the module doc.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.run(task))) {
                abort_escaped_panic(task, payload);
            }
        });
        let key = self.slots.allocate();
        task.set_key(key);
        let cell = self.slots.cell(key);
        debug_assert!(cell.locals.is_empty(), "a reused slot kept green-locals");
        *cell.task.borrow_mut() = Some(task);
        cell.join.set(Some(join));
        cell.running.set(running);
        // SAFETY: the slot was free, so no coroutine in it is running or borrowed (SlotCell).
        unsafe { *cell.coroutine.get() = Some(coroutine) };
        self.run_queue.borrow_mut().push_back(key);
        Ok(())
    }

    /// Gives up every green thread still on this hub: each one's join completes as "cancelled"
    /// and its stack is leaked rather than unwound from outside, which could run its
    /// destructors' parks with no hub to return to.
    pub(super) fn abandon_all(&self) {
        let mut names = Vec::new();
        for cell in self.slots.cells.borrow().iter() {
            let Some(task) = cell.task.borrow_mut().take() else {
                continue;
            };
            names.push(task.name().unwrap_or("<unnamed>").to_string());
            // SAFETY: the hub loop is not running a coroutine (it returned or unwound), so no
            // reference into any coroutine cell is live.
            if let Some(coroutine) = unsafe { (*cell.coroutine.get()).take() } {
                std::mem::forget(coroutine);
            }
            // Its green-locals may point into the leaked stack too: leak them with it.
            std::mem::forget(cell.locals.take_all());
            if let Some(abandon) = cell.join.take() {
                // SAFETY: `abandon` belongs to the body that runs as `task` (SlotCell::join).
                unsafe { abandon(&task) };
            }
            // The header stays allocated: the leaked stack may still point at it.
            std::mem::forget(task);
        }
        self.slots.live.set(0);
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

/// A panic escaped a green thread's root: report it with the green thread's name and abort, as
/// std does when a thread's result panics on drop. Writes without allocating a panic of its own.
fn abort_escaped_panic(task: &Task, payload: Box<dyn Any + Send>) -> ! {
    crate::sys::report(&format!(
        "greenhub: a panic escaped green thread '{}' (id {}) after it finished (its result or \
         panic payload panicked while being dropped or reported): {}\nfatal runtime error: \
         green thread result panicked on drop, aborting\n",
        task.name().unwrap_or("<unnamed>"),
        task.id(),
        super::interrupt::panic_message(&*payload)
    ));
    std::mem::forget(payload);
    std::process::abort()
}
