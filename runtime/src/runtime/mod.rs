//! The runtime: N hubs on N OS threads, started by `run` and torn down when its closure returns.

pub(crate) mod inspect;
pub(crate) mod monitor;

use crate::hub::liveness::Liveness;
use crate::hub::overflow;
use crate::hub::stack::DEFAULT_STACK_SIZE;
use crate::hub::{Hub, HubShared, RuntimeShared};
use crate::reactor::Poller;
use crate::thread::spawn_here;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The smallest stack a green thread may be given: enough for a panic to unwind and print.
const MIN_STACK_SIZE: usize = 16 * 1024;

/// A configured runtime. [`run`](Runtime::run) starts its hubs, runs the main green thread and
/// stops them again; a `Runtime` can run any number of times, one after another.
///
/// # Examples
///
/// ```
/// let rt = greenhub::Runtime::builder().hubs(2).stack_size(128 * 1024).build()?;
/// let answer = rt.run(|| greenhub::spawn(|| 42).join().unwrap());
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    hubs: usize,
    stack_size: usize,
    blocking_threshold: Option<Duration>,
}

/// Configures a [`Runtime`]; made by [`Runtime::builder`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    hubs: Option<usize>,
    stack_size: Option<usize>,
    blocking_threshold: Option<Duration>,
}

impl RuntimeBuilder {
    /// The number of hubs, each on its own OS thread (the caller of `run` is hub 0). The default
    /// is the machine's available parallelism.
    pub fn hubs(mut self, hubs: usize) -> RuntimeBuilder {
        self.hubs = Some(hubs);
        self
    }

    /// The default usable stack size of green threads, in bytes (256 KiB unless set). Only the
    /// pages a green thread touches become resident memory.
    pub fn stack_size(mut self, bytes: usize) -> RuntimeBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// Turns on the blocking detector: a green thread that runs longer than `threshold`
    /// without parking is reported on stderr with its name and hub. Off by default; the
    /// environment variable `GREENHUB_BLOCKING_DETECTOR_MS` turns it on too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = greenhub::Runtime::builder().blocking_detector(Duration::from_millis(50)).build().unwrap();
    /// rt.run(|| greenhub::sleep(Duration::from_millis(1))); // parks in time: nothing reported
    /// ```
    pub fn blocking_detector(mut self, threshold: Duration) -> RuntimeBuilder {
        self.blocking_threshold = Some(threshold);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `hubs` is zero or the stack size is below 16 KiB.
    pub fn build(self) -> io::Result<Runtime> {
        let hubs = match self.hubs {
            Some(hubs) => hubs,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if hubs == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a runtime needs at least one hub",
            ));
        }
        let stack_size = self.stack_size.unwrap_or(DEFAULT_STACK_SIZE);
        if stack_size < MIN_STACK_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "green-thread stacks must be at least {MIN_STACK_SIZE} bytes, not {stack_size}"
                ),
            ));
        }
        let blocking_threshold = self.blocking_threshold.or_else(monitor::threshold_from_env);
        Ok(Runtime {
            hubs,
            stack_size,
            blocking_threshold,
        })
    }
}

fn start_hub(shared: Arc<RuntimeShared>, index: usize, poller: Poller) {
    let _alt_stack = overflow::ensure_alt_stack();
    let hub = Hub::new(shared.hubs[index].clone(), shared.clone(), poller);
    hub.enter(|| hub.run());
}

impl Runtime {
    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Runs `f` as the main green thread on hub 0 (the calling OS thread), with the other hubs
    /// on threads of their own, and returns its value.
    ///
    /// When `f` returns, every green thread still alive on any hub is cancelled: it unwinds at
    /// its park point and its destructors run, and they may still wait for each other, across
    /// hubs too. Once every hub is idle at the same time (nothing runnable, no timer, no I/O or
    /// blocking-pool wait anywhere), whatever still waits can never be woken by the runtime: it
    /// is reported on stderr, its join reports "cancelled" and its stack is leaked rather than
    /// holding up the exit. Then the hub threads are joined and `run` returns.
    ///
    /// # Panics
    ///
    /// - When `f` panics: after shutdown, the panic continues in the caller.
    /// - When a hub's own loop panicked (a bug in greenhub): that hub stopped, the runtime was
    ///   shut down as above, and `run` reports which hub failed and why.
    /// - When the main green thread parks and nothing can ever wake it (no runnable green
    ///   thread, timer, I/O interest, blocking-pool work or live [`GreenThread`] handle in the
    ///   whole runtime): the program would block forever, so `run` says so instead of hanging.
    ///   Only a `GreenThread` handle counts as a way in from outside: a `JoinHandle`, `Pool` or
    ///   `ServerHandle` kept on a plain OS thread to cancel a green thread later does not.
    /// - When called from inside a green thread, or when the OS refuses a poller or a thread.
    ///
    /// [`GreenThread`]: crate::GreenThread
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    /// assert_eq!(rt.run(|| "done"), "done");
    /// ```
    pub fn run<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        assert!(
            crate::current_hub().is_none(),
            "greenhub::run cannot be called from inside a green thread; use greenhub::spawn"
        );
        overflow::install_overflow_handler();
        crate::hub::interrupt::install_panic_hook();
        let _outside_unwind = crate::hub::interrupt::OutsideUnwind::note();
        let pollers: Vec<Poller> = (0..self.hubs)
            .map(|_| Poller::new())
            .collect::<io::Result<_>>()
            .unwrap_or_else(|err| panic!("greenhub::run: cannot create a poller: {err}"));
        let liveness = Arc::new(Liveness::new(self.hubs, pollers[0].waker()));
        let hubs = pollers
            .iter()
            .enumerate()
            .map(|(index, poller)| {
                Arc::new(HubShared::new(
                    index,
                    poller.waker(),
                    poller.registrar(),
                    liveness.clone(),
                ))
            })
            .collect();
        let shared = Arc::new(RuntimeShared {
            hubs,
            stack_size: self.stack_size,
            blocking_threshold: self.blocking_threshold,
        });
        let _registered = inspect::register(&shared);
        inspect::start_dump_thread_if_asked();
        let monitor = self.blocking_threshold.map(|threshold| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("greenhub-monitor".into())
                .spawn(move || monitor::watch(shared, threshold))
                .unwrap_or_else(|err| {
                    panic!("greenhub::run: cannot start the blocking detector: {err}")
                })
        });
        let mut pollers = pollers.into_iter();
        let main_poller = pollers.next().expect("at least one hub");
        let threads: Vec<_> = pollers
            .enumerate()
            .map(|(i, poller)| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("greenhub-hub-{}", i + 1))
                    .spawn(move || start_hub(shared, i + 1, poller))
                    .unwrap_or_else(|err| panic!("greenhub::run: cannot start a hub thread: {err}"))
            })
            .collect();

        let _alt_stack = overflow::ensure_alt_stack();
        let hub = Hub::new(shared.hubs[0].clone(), shared.clone(), main_poller);
        let main = hub.enter(|| {
            let main = spawn_here(&hub, Some("main".into()), None, f)
                .unwrap_or_else(|err| panic!("greenhub::run: {err}"));
            hub.set_main(main.key());
            hub.run();
            main
        });
        drop(hub);
        if let Some(monitor) = monitor {
            let _ = monitor.join();
        }
        for thread in threads {
            if let Err(payload) = thread.join() {
                std::panic::resume_unwind(payload);
            }
        }
        if let Some((hub, message)) = liveness.failure() {
            panic!(
                "greenhub::run: hub {hub} stopped because its loop panicked ({message}); every \
                 green thread was cancelled and the runtime shut down"
            );
        }
        let outcome = main.join();
        if liveness.deadlock.load(Ordering::SeqCst) {
            // The main green thread was cancelled out of a wait nothing could end; whatever it
            // returned after that (a `park` ends at the cancel's wake) is not a result.
            drop(outcome);
            panic!(
                "greenhub::run: the main green thread is parked and nothing can ever wake it (no \
                 runnable green thread, timer, I/O interest, blocking work or GreenThread handle \
                 anywhere in the runtime): this program would block forever"
            );
        }
        match outcome {
            Ok(value) => value,
            Err(err) => match err.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(err) => panic!("greenhub::run: the main green thread ended: {err}"),
            },
        }
    }
}

/// Runs `f` as the main green thread of a runtime with default settings (one hub per available
/// core) and returns its value. See [`Runtime::run`] for what happens at the end.
///
/// # Panics
///
/// As [`Runtime::run`]: when `f` panics, when the program would block forever, or when called
/// from inside a green thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let total = greenhub::run(|| {
///     let workers: Vec<_> = (1..=3)
///         .map(|n| greenhub::spawn(move || { greenhub::sleep(Duration::from_millis(n)); n }))
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>()
/// });
/// assert_eq!(total, 6);
/// ```
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Runtime::builder()
        .build()
        .expect("the default configuration is valid")
        .run(f)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::hub::{interrupt::panic_message, with_hub, Hub, Remote, RemoteSpawn};
    use std::time::Duration;

    /// Stands in for a bug in the hub loop: the hub panics while it starts this "green thread".
    struct BreaksTheHub;

    impl RemoteSpawn for BreaksTheHub {
        fn start(self: Box<Self>, _hub: &Hub) {
            panic!("injected failure of the hub loop");
        }
    }

    /// A hub whose own loop panics stops the whole runtime with an error naming it, and no join
    /// of one of its green threads hangs: from a green thread of another hub or from an OS thread.
    #[test]
    fn a_hub_whose_loop_panics_stops_the_runtime_and_leaves_no_join_hanging() {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let run = std::thread::spawn(move || {
            let rt = crate::Runtime::builder().hubs(2).build().unwrap();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.run(move || {
                    let joined_here =
                        crate::spawn_on(1, || crate::sleep(Duration::from_secs(3600)));
                    let joined_elsewhere =
                        crate::spawn_on(1, || crate::sleep(Duration::from_secs(3600)));
                    handle_tx.send(joined_elsewhere).unwrap();
                    crate::sleep(Duration::from_millis(5));
                    with_hub(|hub| {
                        hub.runtime.hubs[1].push_remote(Remote::Spawn(Box::new(BreaksTheHub)))
                    });
                    // Given up by the failed hub, or this green thread is cancelled by the
                    // shutdown first: either way the join does not hang.
                    let _ = joined_here.join();
                })
            }))
        });
        let joined_elsewhere = handle_rx.recv().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || done_tx.send(joined_elsewhere.join()).unwrap());
        let joined = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a join from an OS thread hung");
        assert!(joined.unwrap_err().is_cancelled());
        let payload = run.join().unwrap().expect_err("run reports the failed hub");
        let message = panic_message(&*payload).to_string();
        assert!(
            message.contains("hub 1 stopped") && message.contains("injected failure"),
            "{message}"
        );
    }
}
