//! A green thread's (or plain OS thread's) green-local values: see `greenhub::green_local!` and
//! `crate::hub::locals`, which finds the map of whoever runs.
//!
//! A value is boxed, so its address does not change while the map grows.

use std::any::Any;
use std::cell::RefCell;

/// The green-local values of one green thread or OS thread, by key.
pub(crate) struct LocalMap {
    values: RefCell<Vec<(usize, Box<dyn Any>)>>,
}

impl Default for LocalMap {
    fn default() -> LocalMap {
        LocalMap::new()
    }
}

impl LocalMap {
    pub(crate) const fn new() -> LocalMap {
        LocalMap {
            values: RefCell::new(Vec::new()),
        }
    }

    /// The value under `key`, made with `init` the first time. The pointer stays valid until
    /// the map is emptied by [`take_all`](Self::take_all) (its green thread ended) or dropped.
    ///
    /// # Panics
    /// When a value of another type is stored under `key` (keys are unique per `GreenLocal`,
    /// so this is a bug in greenhub).
    pub(crate) fn get_or_init<T: 'static>(&self, key: usize, init: impl FnOnce() -> T) -> *const T {
        if let Some(found) = self.find::<T>(key) {
            return found;
        }
        // No borrow is held while `init` runs: it may use other green-locals, or this one.
        let value: Box<dyn Any> = Box::new(init());
        if let Some(found) = self.find::<T>(key) {
            return found; // `init` read this very key and made a value first: keep that one
        }
        let at = value.downcast_ref::<T>().expect("just made as a T") as *const T;
        self.values.borrow_mut().push((key, value));
        at
    }

    fn find<T: 'static>(&self, key: usize) -> Option<*const T> {
        let values = self.values.borrow();
        let (_, value) = values.iter().find(|(k, _)| *k == key)?;
        let value = value
            .downcast_ref::<T>()
            .expect("one type per green-local key");
        Some(value as *const T)
    }

    /// Empties the map, returning its values in the order they were made.
    pub(crate) fn take_all(&self) -> Vec<Box<dyn Any>> {
        let values = std::mem::take(&mut *self.values.borrow_mut());
        values.into_iter().map(|(_, value)| value).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.borrow().is_empty()
    }
}
