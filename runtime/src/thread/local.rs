//! Green-thread-local storage: [`green_local!`](crate::green_local) and [`GreenLocal`].

use crate::hub::locals::with_current_locals;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Declares green-thread-local statics: like [`std::thread_local!`], but one value per green
/// thread, so per-request context (a request id, a tracing span) set by one green thread is never
/// seen by another green thread of the same hub. Read it with [`GreenLocal::with`].
///
/// A green thread starts with the initial value: a child does **not** inherit its parent's
/// value (pass it into the closure to hand it on). Outside any green thread (a plain OS thread,
/// or a hub's own code) each OS thread has its own value, as with `thread_local!`.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// greenhub::green_local! {
///     static REQUEST_ID: Cell<u64> = Cell::new(0);
/// }
///
/// greenhub::run(|| {
///     let workers: Vec<_> = (1..=3)
///         .map(|id| greenhub::spawn(move || {
///             REQUEST_ID.with(|r| r.set(id));
///             greenhub::yield_now(); // the others set theirs meanwhile
///             REQUEST_ID.with(|r| r.get())
///         }))
///         .collect();
///     let seen: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
///     assert_eq!(seen, [1, 2, 3]);
///     assert_eq!(REQUEST_ID.with(|r| r.get()), 0, "the main green thread has its own");
/// });
/// ```
#[macro_export]
macro_rules! green_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::green_local!($(#[$attr])* $vis static $name: $t = $init);
        $crate::green_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::GreenLocal<$t> = {
            fn init() -> $t {
                $init
            }
            $crate::GreenLocal::new(init)
        };
    };
}

/// The key of a green-thread-local value, made by [`green_local!`](crate::green_local).
///
/// Each green thread that uses it gets its own value, made by the initialiser on first use and
/// dropped when the green thread ends, however it ends (returned, panicked, cancelled), before
/// its [`join`](crate::JoinHandle::join) returns. A destructor may park: the green thread is
/// finishing, so nothing cancels it any more. A destructor that panics is reported on stderr
/// with the green thread's name; the green thread's other values are still dropped and its
/// join's outcome is unchanged. A plain OS thread's values are dropped when it exits, as with
/// `thread_local!`. Green threads a runtime gives up at shutdown (see the README) leak theirs,
/// as they leak their stacks.
pub struct GreenLocal<T: 'static> {
    init: fn() -> T,
    /// The key of this static's values in every green thread's map: given out on first use.
    key: AtomicUsize,
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

impl<T: 'static> GreenLocal<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> GreenLocal<T> {
        GreenLocal {
            init,
            key: AtomicUsize::new(0),
        }
    }

    fn key(&self) -> usize {
        let key = self.key.load(Ordering::Relaxed);
        if key != 0 {
            return key;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self
            .key
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(first) => first,
        }
    }

    /// Calls `f` with the running green thread's value (or this OS thread's, outside a green
    /// thread), made by the initialiser if this is its first use there. `f` may park.
    ///
    /// # Panics
    ///
    /// On a plain OS thread that is exiting, from the destructor of one of its green-local
    /// values, as [`LocalKey::with`](std::thread::LocalKey::with) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// greenhub::green_local!(static SPAN: RefCell<Vec<&'static str>> = RefCell::new(Vec::new()));
    ///
    /// greenhub::run(|| {
    ///     SPAN.with(|s| s.borrow_mut().push("handle_request"));
    ///     let child = greenhub::spawn(|| SPAN.with(|s| s.borrow().len()));
    ///     assert_eq!(child.join().unwrap(), 0, "a child starts with the initial value");
    ///     assert_eq!(SPAN.with(|s| s.borrow().clone()), ["handle_request"]);
    /// });
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self.key();
        let value = with_current_locals(|locals| locals.get_or_init(key, self.init));
        // SAFETY: `value` points into a box owned by the running green thread's map (or this
        // OS thread's), which drops its values only once that green thread's function is done
        // (or the OS thread exits), never while code of that green thread (or OS thread) still
        // runs inside `with`; a green thread never changes OS thread, and no other green
        // thread can reach this map. So the value outlives `f`, and `&T` stays on this thread.
        f(unsafe { &*value })
    }
}

impl<T: 'static> fmt::Debug for GreenLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenLocal").finish_non_exhaustive()
    }
}
