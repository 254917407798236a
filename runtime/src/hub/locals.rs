//! Where green-local values live (see `greenhub::green_local!`): one [`LocalMap`] per green
//! thread, in its hub's slot, and one per plain OS thread, in the context.
//!
//! ```text
//!   NAME.with(f) ─► running green thread? ─ yes ─► its slot's LocalMap (hub-owned, no lock)
//!                                          └ no ──► this OS thread's LocalMap (context.rs)
//!   green thread's function done ─► drop_current_green_locals, on its own stack, before its
//!                                   join completes; the slot is empty when it is reused
//! ```
//!
//! Values leave a map only when their green thread (or OS thread) ends, never while one of its
//! `with` calls runs.

use super::{context, with_hub};
use crate::task::LocalMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Calls `f` with the green-local values of the running green thread, or else of this OS thread.
pub(crate) fn with_current_locals<R>(f: impl FnOnce(&LocalMap) -> R) -> R {
    let mut f = Some(f);
    let in_green_thread = with_hub(|hub| {
        let current = hub.running.current.get()?;
        let f = f.take().expect("called once");
        Some(f(&hub.slots.cell(current.key).locals))
    })
    .flatten();
    match in_green_thread {
        Some(result) => result,
        None => context::with_os_locals(f.take().expect("called once")),
    }
}

/// Drops the running green thread's green-local values: the last thing its root does before it
/// completes its join, on its own stack, so a destructor may park (nothing cancels it any more:
/// the green thread is finishing). A destructor that makes new values (it reads a green-local)
/// has those dropped too. A destructor that panics is reported on stderr with the green
/// thread's name; the other values are still dropped and the join's outcome is unchanged.
pub(crate) fn drop_current_green_locals() {
    loop {
        let values = with_hub(|hub| {
            let key = hub.running.current.get()?.key;
            let locals = &hub.slots.cell(key).locals;
            (!locals.is_empty()).then(|| locals.take_all())
        })
        .flatten();
        let Some(values) = values else { return };
        for value in values {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
                super::interrupt::unwind_caught();
                let name = with_hub(|hub| {
                    let task = hub.current();
                    format!(
                        "'{}' (id {})",
                        task.name().unwrap_or("<unnamed>"),
                        task.id()
                    )
                })
                .unwrap_or_default();
                crate::sys::report(&format!(
                    "greenhub: a green-local value of green thread {name} panicked while being \
                     dropped: {}\n",
                    super::interrupt::panic_message(&*payload)
                ));
                // Dropping a payload runs arbitrary code that may panic again; leak it.
                std::mem::forget(payload);
            }
        }
    }
}
