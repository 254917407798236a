//! Starting green threads: `spawn`, `spawn_on` and the `Builder`.

use super::join::{abandon, complete, outcome_of, JoinError, JoinHandle};
use crate::hub::{with_hub, GreenBody, Hub};
use crate::hub::{Remote, RemoteSpawn};
use crate::task::Task;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Drops a closure that will never run, as the green thread it was meant for: a panic in its
/// destructor becomes that green thread's panic.
fn drop_unstarted<F>(f: F) -> Result<(), JoinError> {
    catch_unwind(AssertUnwindSafe(move || drop(f))).map_err(JoinError::from_payload)
}

/// The root of every green thread: runs `f` unless cancelled first, catches its panic, and
/// hands the outcome to the join packet in the green thread's header; then calls `then` (for a
/// `TaskSet`, which must learn of a member's end only once its outcome can be taken).
///
/// # Invariant
/// It runs as the green thread whose header its [`JoinHandle<T>`] holds: the two are made
/// together, for the one result type `T` (see `join::complete`).
struct GreenRoot<F, T, N> {
    f: F,
    then: N,
    _result: PhantomData<fn() -> T>,
}

impl<F, T, N> GreenRoot<F, T, N> {
    /// # Safety
    /// The root must run as `task`, and `task`'s join handle be a `JoinHandle<T>`.
    unsafe fn new(f: F, then: N) -> GreenRoot<F, T, N> {
        GreenRoot {
            f,
            then,
            _result: PhantomData,
        }
    }
}

impl<F, T, N> GreenBody for GreenRoot<F, T, N>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
    N: FnOnce() + 'static,
{
    fn run(self, task: &Task) {
        let GreenRoot { f, then, .. } = self;
        let outcome = if task.is_cancel_requested() {
            task.set_finishing();
            drop_unstarted(f).and(Err(JoinError::cancelled()))
        } else {
            outcome_of(catch_unwind(AssertUnwindSafe(f)))
        };
        // Its function is done: dropping its green-locals and a result nobody joins (whose
        // destructors may park) runs to completion; a cancel or a shutdown can no longer cut it
        // short. The green-locals go first, so a joiner finds them dropped.
        task.set_finishing();
        crate::hub::locals::drop_current_green_locals();
        // SAFETY: `task` is the green thread this root was made for (the invariant).
        unsafe { complete::<T>(task, outcome) };
        then();
    }

    fn abandoner(&self) -> unsafe fn(&Task) {
        abandon::<T>
    }
}

pub(crate) fn spawn_here<F, T>(
    hub: &Hub,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    f: F,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    spawn_here_then(hub, name, stack_size, f, || {})
}

fn spawn_here_then<F, T, N>(
    hub: &Hub,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    f: F,
    then: N,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
    N: FnOnce() + 'static,
{
    let task = hub.new_task(name);
    // SAFETY: the root runs as `task` (spawn_task registers them together), and the handle for
    // `task` is made for the same `T`.
    let (root, handle) = unsafe { (GreenRoot::new(f, then), JoinHandle::new(task.clone())) };
    hub.spawn_task(task, stack_size, root)?;
    Ok(handle)
}

/// [`spawn`], and once the green thread's outcome is in its join packet (so that `join` takes
/// it without parking), `then` runs, as the last thing the green thread does.
pub(crate) fn spawn_then<F, T, N>(f: F, then: N) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
    N: FnOnce() + 'static,
{
    match with_hub(|hub| spawn_here_then(hub, None, None, f, then)) {
        Some(Ok(handle)) => handle,
        Some(Err(err)) => panic!("greenhub::spawn: {err}"),
        None => outside_runtime("spawn"),
    }
}

/// A `spawn_on` on its way to the target hub. If it never starts (the hub stopped for good, or
/// could not map a stack), dropping it completes the join: "cancelled", or the stack error.
///
/// # Invariant
/// `task`'s join handle is a `JoinHandle<T>`.
struct SpawnOn<F, T> {
    f: Option<F>,
    task: Arc<Task>,
    _result: PhantomData<fn() -> T>,
}

impl<F, T> RemoteSpawn for SpawnOn<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn start(mut self: Box<Self>, hub: &Hub) {
        let f = self.f.take().expect("started once");
        // SAFETY: the root runs as `self.task`, whose handle is a `JoinHandle<T>` (the
        // invariant).
        let root = unsafe { GreenRoot::<F, T, _>::new(f, || {}) };
        if let Err(err) = hub.spawn_task(self.task.clone(), None, root) {
            let payload: Box<dyn std::any::Any + Send> =
                Box::new(format!("greenhub::spawn_on: {err}"));
            // SAFETY: as above.
            unsafe { complete::<T>(&self.task, outcome_of(Err(payload))) };
        }
    }
}

impl<F, T> Drop for SpawnOn<F, T> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            let outcome = drop_unstarted(f).and(Err(JoinError::cancelled()));
            // SAFETY: as in `start`.
            unsafe { complete::<T>(&self.task, outcome) };
        }
    }
}

fn outside_runtime(what: &str) -> ! {
    panic!("greenhub::{what} must be called from a green thread, inside greenhub::run")
}

/// Starts a green thread on the current hub and returns a handle to join it.
///
/// The closure need not be `Send`: green threads never move between hubs, so a closure that
/// owns an `Rc` is fine. The new green thread first runs when the caller next parks or yields.
///
/// # Panics
///
/// Outside a runtime, and when no stack can be mapped (see [`Builder::spawn`] for the
/// non-panicking form, whose error says how to raise the limit).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// greenhub::run(|| {
///     let shared = Rc::new(String::from("not Send, and that is fine"));
///     let handle = greenhub::spawn(move || shared.len());
///     assert_eq!(handle.join().unwrap(), 26);
/// });
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    match with_hub(|hub| spawn_here(hub, None, None, f)) {
        Some(Ok(handle)) => handle,
        Some(Err(err)) => panic!("greenhub::spawn: {err}"),
        None => outside_runtime("spawn"),
    }
}

/// Starts a green thread on the current hub that runs `f` once `delay` has passed, like
/// gevent's `spawn_later`. Until then it sleeps: [`JoinHandle::cancel`] in that time means `f`
/// never runs (it is dropped, and `join` reports "cancelled").
///
/// # Panics
///
/// As [`spawn`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// greenhub::run(|| {
///     let start = Instant::now();
///     let later = greenhub::spawn_later(Duration::from_millis(20), move || start.elapsed());
///     assert!(later.join().unwrap() >= Duration::from_millis(20));
///
///     let never = greenhub::spawn_later(Duration::from_secs(3600), || unreachable!());
///     never.cancel();
///     assert!(never.join().unwrap_err().is_cancelled());
/// });
/// ```
pub fn spawn_later<F, T>(delay: std::time::Duration, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    spawn(move || {
        super::sleep(delay);
        f()
    })
}

/// Starts a green thread on hub number `hub` (`0..hub_count()`), for spreading work over cores.
///
/// The closure and its result cross threads, so both must be `Send`. If the target hub cannot
/// map a stack, the handle's `join` reports that as a panic.
///
/// # Panics
///
/// Outside a runtime, or when `hub >= hub_count()`.
///
/// # Examples
///
/// ```
/// let rt = greenhub::Runtime::builder().hubs(2).build().unwrap();
/// rt.run(|| {
///     let on_other = greenhub::spawn_on(1, || greenhub::current_hub());
///     assert_eq!(on_other.join().unwrap(), Some(1));
/// });
/// ```
///
/// A closure that is not `Send` is refused at compile time:
///
/// ```compile_fail
/// greenhub::run(|| {
///     let rc = std::rc::Rc::new(1);
///     greenhub::spawn_on(1, move || *rc);
/// });
/// ```
pub fn spawn_on<F, T>(hub: usize, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (count, here) = with_hub(|current| (current.runtime.hubs.len(), current.index()))
        .unwrap_or_else(|| outside_runtime("spawn_on"));
    assert!(
        hub < count,
        "greenhub::spawn_on: hub {hub} does not exist (this runtime has {count})"
    );
    if hub == here {
        return spawn(f);
    }
    let target = with_hub(|current| current.runtime.hubs[hub].clone()).expect("inside a hub");
    let task = Arc::new(Task::new(None, target.clone()));
    // SAFETY: the `SpawnOn` below carries the same `T` for `task`.
    let handle = unsafe { JoinHandle::new(task.clone()) };
    target.push_remote(Remote::Spawn(Box::new(SpawnOn::<F, T> {
        f: Some(f),
        task,
        _result: PhantomData,
    })));
    handle
}

/// Configures a green thread before starting it: its name and stack size.
///
/// # Examples
///
/// ```
/// greenhub::run(|| {
///     let handle = greenhub::Builder::new()
///         .name("deep-recursion".to_string())
///         .stack_size(4 * 1024 * 1024)
///         .spawn(|| greenhub::current().name().map(String::from))
///         .expect("a 4 MiB stack could not be mapped");
///     assert_eq!(handle.join().unwrap().as_deref(), Some("deep-recursion"));
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the green thread; the name shows in panic and stack-overflow reports and in
    /// [`GreenThread::name`](crate::GreenThread::name).
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages; one guard page is added
    /// below it). Stacks of the runtime's default size are pooled; other sizes are mapped and
    /// unmapped for each green thread.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the green thread on the current hub.
    ///
    /// # Errors
    ///
    /// When the stack cannot be mapped. The error names `vm.max_map_count`: each guarded stack
    /// may cost two kernel memory maps (before Linux 6.13; later, a batch of stacks shares one
    /// until some are unmapped), and Linux's default limit of 65,530 caps a process near
    /// 32,000 live green threads.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let name = self.name.map(String::into_boxed_str);
        with_hub(|hub| spawn_here(hub, name, self.stack_size, f))
            .unwrap_or_else(|| outside_runtime("Builder::spawn"))
    }
}
