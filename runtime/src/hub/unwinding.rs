//! Which green threads of a hub are unwinding: the hub's best knowledge, since std only says
//! whether the *OS thread* is (`std::thread::panicking()`), and that stays true for every green
//! thread of the hub while one of them is suspended in the middle of an unwind (in a destructor
//! that parks).
//!
//! Each green thread keeps a mark: the unwinds it is known to be in, counted up when greenhub
//! raises one (`interrupt::raise`) or the panic hook sees one start, and down when `timeout`
//! catches one. The hub counts the green threads that suspended while marked and while the OS
//! thread was panicking. From these:
//!
//! - the OS thread is not panicking: nobody is unwinding (and every mark is stale: reset);
//! - it is, and no other green thread is counted: this one must be the one unwinding;
//! - it is, another is counted, and this one is marked: probably unwinding, but the mark may be
//!   stale (a panic its own `catch_unwind` caught, which no hook sees): doubtful;
//! - it is, another is counted, and this one is not marked: taken as not unwinding. Wrong only
//!   for an unwind no hook saw (a bare `resume_unwind`, or a replaced panic hook): the one corner
//!   not covered.
//!
//! A doubtful green thread is not interrupted, but looked at again (woken) as soon as the hub
//! learns more: when the OS thread stops panicking, or the count of suspended unwinders drops to
//! zero. The count cannot drift: it is reset whenever the OS thread is seen not panicking, and a
//! green thread only leaves it if it entered it since the last reset.

use crate::task::Task;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// What the hub can tell about a green thread's unwinding.
pub(crate) enum Unwinding {
    No,
    /// In `depth` unwinds; `certain` unless another green thread suspended mid-unwind could be
    /// what keeps the OS thread panicking (then the mark may be stale).
    Yes {
        depth: u32,
        certain: bool,
    },
}

/// A scope's depth when it was opened while the green thread's unwinding was in doubt: such a
/// scope never ends a wait during an unwind.
pub(crate) const UNKNOWN_DEPTH: u32 = u32::MAX;

/// A hub's count of green threads suspended mid-unwind, and the interruptions in doubt.
#[derive(Default)]
pub(crate) struct UnwindTracker {
    suspended: Cell<usize>,
    /// Bumped whenever the count is reset; a green thread's `counted_epoch` says in which
    /// epoch it was counted (0: not counted).
    epoch: Cell<u32>,
    deferred: RefCell<Vec<Arc<Task>>>,
    has_deferred: Cell<bool>,
}

impl UnwindTracker {
    /// What the hub can tell about `task`, the running (or just suspended) green thread.
    pub(crate) fn state(&self, task: &Task) -> Unwinding {
        if !std::thread::panicking() {
            if task.unwinding() != 0 {
                task.set_unwinding(0);
            }
            return Unwinding::No;
        }
        let others = self.suspended.get() + crate::hub::interrupt::abandoned_unwinds();
        if task.unwinding() > 0 {
            Unwinding::Yes {
                depth: task.unwinding(),
                certain: others == 0,
            }
        } else if others == 0 {
            task.set_unwinding(1);
            Unwinding::Yes {
                depth: 1,
                certain: true,
            }
        } else {
            Unwinding::No
        }
    }

    /// The depth a scope that `task` opens now records (see `Scope::depth`).
    #[inline]
    pub(crate) fn depth_for_new_scope(&self, task: &Task) -> u32 {
        if !std::thread::panicking() && task.unwinding() == 0 {
            return 0;
        }
        match self.state(task) {
            Unwinding::No => 0,
            Unwinding::Yes {
                depth,
                certain: true,
            } => depth,
            Unwinding::Yes { certain: false, .. } => UNKNOWN_DEPTH,
        }
    }

    /// `task` is about to run again. Returns whether it was counted as suspended mid-unwind.
    #[inline]
    pub(crate) fn resuming(&self, task: &Task) -> bool {
        let counted = task.counted_epoch();
        if counted == 0 {
            return false;
        }
        task.set_counted_epoch(0);
        let now = counted == self.epoch.get() && self.suspended.get() > 0;
        if now {
            self.suspended.set(self.suspended.get() - 1);
        }
        now
    }

    /// `task` suspended: counts it if it suspended mid-unwind.
    #[inline]
    pub(crate) fn suspending(&self, task: &Task) {
        if std::thread::panicking() && !matches!(self.state(task), Unwinding::No) {
            self.suspended.set(self.suspended.get() + 1);
            let epoch = self.epoch.get().max(1);
            self.epoch.set(epoch);
            task.set_counted_epoch(epoch);
        }
    }

    /// After a green thread ran: takes what the hub learned into account, and returns the green
    /// threads to wake whose interruption was in doubt, if it learned enough for them.
    #[inline]
    pub(crate) fn after_run(&self, ran_counted: bool) -> Option<Vec<Arc<Task>>> {
        if self.suspended.get() == 0 && !ran_counted && !self.has_deferred.get() {
            return None; // nothing counted, nothing in doubt: the common case
        }
        let panicking = std::thread::panicking();
        if !panicking && self.suspended.get() > 0 {
            // Nobody is unwinding after all: every count was stale.
            self.suspended.set(0);
            self.epoch.set(self.epoch.get().wrapping_add(1).max(1));
        }
        let learned = !panicking || (ran_counted && self.suspended.get() == 0);
        if learned && self.has_deferred.replace(false) {
            return Some(std::mem::take(&mut *self.deferred.borrow_mut()));
        }
        None
    }

    /// Remembers to wake `task`, whose interruption is in doubt, when the hub learns more.
    pub(crate) fn defer(&self, task: Arc<Task>) {
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.iter().any(|t| Arc::ptr_eq(t, &task)) {
            deferred.push(task);
        }
        self.has_deferred.set(true);
    }

    /// The hub gives up its green threads: those suspended mid-unwind can never finish, and
    /// std's panic count of this OS thread keeps counting them. Returns how many.
    pub(crate) fn abandon(&self) -> usize {
        self.deferred.borrow_mut().clear();
        self.has_deferred.set(false);
        let count = self.suspended.replace(0);
        crate::hub::interrupt::add_abandoned_unwinds(count);
        count
    }
}
