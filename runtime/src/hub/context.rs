//! The one per-OS-thread context: which hub runs on this thread (and through it, which green
//! thread), and what a plain OS thread needs to behave like a green thread (its id, its
//! `timeout` scope). Everything that asks "where am I running?" asks here.
//!
//! Every field is a `Cell` with a constant initial value and no destructor, so reading the
//! context needs no lazy initialisation: the stack-overflow handler reads it from a signal
//! handler. The one per-thread value that has a destructor, a plain OS thread's green-local
//! values (dropped when the thread exits), is therefore a second static of the same
//! `thread_local!`, which nothing on the hub's paths touches.

use super::stack::RunningStack;
use super::Hub;
use crate::task::{new_os_thread_id, GreenThread, LocalMap, Scope, Task, Unparker};
use std::cell::Cell;
use std::sync::Arc;

struct Context {
    /// The hub running on this OS thread, set for the duration of `Hub::enter`.
    hub: Cell<*const Hub>,
    /// The stack of the green thread running now, for the overflow handler: a pointer into
    /// its slot (slot cells keep their address for the hub's life), so that switching green
    /// threads writes one word; null while none runs.
    running_stack: Cell<*const Cell<RunningStack>>,
    /// The innermost `timeout` scope of a plain OS thread (green threads keep theirs on the task).
    os_scope: Cell<Scope>,
    /// The id of this OS thread as [`current`](crate::current) reports it; 0 until first asked.
    os_thread_id: Cell<u64>,
    /// Unwinds of green threads this thread's hubs gave up in the middle (see
    /// `crate::hub::interrupt::OutsideUnwind`).
    abandoned_unwinds: Cell<usize>,
    /// The next `timeout` scope id (ids only need to differ among the scopes on one OS thread's
    /// stacks, since a green thread never leaves its hub's thread).
    next_scope_id: Cell<u64>,
    /// Where the next `Select` starts looking, so that no arm is always preferred.
    select_rotation: Cell<usize>,
}

thread_local! {
    static CONTEXT: Context = const {
        Context {
            hub: Cell::new(std::ptr::null()),
            running_stack: Cell::new(std::ptr::null()),
            os_scope: Cell::new(Scope::NONE),
            os_thread_id: Cell::new(0),
            abandoned_unwinds: Cell::new(0),
            next_scope_id: Cell::new(1),
            select_rotation: Cell::new(0),
        }
    };

    /// The green-local values of this OS thread when it runs no green thread (see
    /// `super::locals`).
    static OS_LOCALS: LocalMap = const { LocalMap::new() };
}

/// Calls `f` with this thread's hub, or returns `None` outside any hub.
#[inline]
pub(crate) fn with_hub<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
    let hub = CONTEXT.with(|c| c.hub.get());
    if hub.is_null() {
        return None;
    }
    // SAFETY: the pointer is non-null only inside `enter`, whose guard clears it before the hub
    // is dropped; the hub does not move while entered (it is borrowed by `enter`).
    Some(f(unsafe { &*hub }))
}

/// Makes `hub` this thread's hub for the duration of `f`.
pub(super) fn enter<R>(hub: &Hub, f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            CONTEXT.with(|c| c.hub.set(std::ptr::null()));
        }
    }
    let previous = CONTEXT.with(|c| c.hub.replace(hub));
    assert!(
        previous.is_null(),
        "a hub is already running on this thread"
    );
    let _exit = Exit;
    f()
}

/// This OS thread's id (see [`current`](crate::current)), given out on first use; ids are
/// never reused, so it also tells one OS thread from every other that ever ran.
pub(crate) fn os_thread_id() -> u64 {
    CONTEXT.with(|c| {
        if c.os_thread_id.get() == 0 {
            c.os_thread_id.set(new_os_thread_id());
        }
        c.os_thread_id.get()
    })
}

/// This OS thread's id if it was ever asked for, else 0 (which no thread is given).
#[inline]
pub(crate) fn os_thread_id_if_known() -> u64 {
    CONTEXT.with(|c| c.os_thread_id.get())
}

/// The running green thread's header, if called from a green thread.
pub(crate) fn current_task() -> Option<Arc<Task>> {
    with_hub(|hub| hub.current_task_arc()).flatten()
}

impl Unparker {
    /// Wakes the caller: the running green thread, or else this OS thread.
    pub(crate) fn current() -> Unparker {
        match current_task() {
            Some(task) => Unparker::Green(task),
            None => Unparker::Os(std::thread::current()),
        }
    }
}

impl GreenThread {
    /// A handle to the running green thread, or else to this OS thread.
    pub(crate) fn current() -> GreenThread {
        match current_task() {
            Some(task) => GreenThread::of_task(task),
            None => GreenThread::of_os_thread(os_thread_id()),
        }
    }
}

impl GreenThread {
    /// A handle to the running green thread (or this OS thread) for a `sync` wait list (see
    /// [`GreenThread::of_task_in_wait_list`]); its holder parks with
    /// `thread::park_raw_in_wait_list`.
    pub(crate) fn for_wait_list() -> GreenThread {
        match current_task() {
            Some(task) => GreenThread::of_task_in_wait_list(task),
            None => GreenThread::current(),
        }
    }
}

/// Set by the hub before it resumes a green thread (to its slot's stack bounds, which stay in
/// place while it runs), and to null after; read by the overflow handler.
pub(super) fn set_running_stack(running: *const Cell<RunningStack>) {
    CONTEXT.with(|c| c.running_stack.set(running));
}

/// Async-signal-safe: plain reads of a constant-initialised thread-local and of the slot it
/// points to.
pub(super) fn running_stack() -> RunningStack {
    let running = CONTEXT.with(|c| c.running_stack.get());
    if running.is_null() {
        return RunningStack::NONE;
    }
    // SAFETY: non-null only while the hub runs the green thread of that slot; slot cells are
    // boxed and live as long as the hub, and nothing writes the bounds while it runs.
    unsafe { (*running).get() }
}

/// The innermost scope of the calling OS thread (outside any green thread).
pub(crate) fn os_scope() -> Scope {
    CONTEXT.with(|c| c.os_scope.get())
}

pub(crate) fn set_os_scope(scope: Scope) {
    CONTEXT.with(|c| c.os_scope.set(scope));
}

pub(super) fn abandoned_unwinds() -> usize {
    CONTEXT.with(|c| c.abandoned_unwinds.get())
}

pub(super) fn add_abandoned_unwinds(count: usize) {
    CONTEXT.with(|c| c.abandoned_unwinds.set(c.abandoned_unwinds.get() + count));
}

pub(super) fn remove_abandoned_unwind() {
    CONTEXT.with(|c| c.abandoned_unwinds.set(c.abandoned_unwinds.get() - 1));
}

/// A fresh id for a `timeout` scope opened on this thread.
pub(crate) fn next_scope_id() -> u64 {
    CONTEXT.with(|c| {
        let id = c.next_scope_id.get();
        c.next_scope_id.set(id + 1);
        id
    })
}

/// Where the next `Select` on this thread starts looking at its arms.
pub(crate) fn next_select_rotation() -> usize {
    CONTEXT.with(|c| {
        let rotation = c.select_rotation.get();
        c.select_rotation.set(rotation.wrapping_add(1));
        rotation
    })
}

/// Calls `f` with this OS thread's green-local values.
///
/// # Panics
/// While the thread exits, once its values are being dropped (a destructor of one read a
/// green-local), as `std::thread::LocalKey::with` does.
pub(super) fn with_os_locals<R>(f: impl FnOnce(&LocalMap) -> R) -> R {
    OS_LOCALS
        .try_with(f)
        .expect("a green-local was used while its OS thread's green-locals were being dropped")
}
