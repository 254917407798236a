//! "What is stuck?": [`threads`] lists every live green thread of every running runtime, and
//! `GREENHUB_DUMP_SIGNAL` prints that list on stderr when the process gets a signal.
//!
//! ```text
//!   threads() ─► for each hub of each live runtime:
//!                  the caller's own hub: snapshot it here
//!                  any other: Remote::Visit ─► its loop takes a snapshot ─► Answers, unpark
//!              ─► park until every hub answered, or ANSWER_WITHIN passed
//! ```
//!
//! Hubs own their slot tables, so only a hub reads its own; a hub that does not answer in time
//! is running one green thread that does not park (the blocking detector names it), and its
//! green threads are left out.

use crate::hub::inspect::ThreadInfo;
use crate::hub::{with_hub, Remote, RuntimeShared};
use crate::GreenThread;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The environment variable naming the signal that dumps the green threads on stderr.
pub(crate) const DUMP_ENV: &str = "GREENHUB_DUMP_SIGNAL";

/// How long `threads` waits for a hub to answer.
const ANSWER_WITHIN: Duration = Duration::from_millis(200);

/// Every runtime running now, so that `threads` works from any thread.
static LIVE: Mutex<Vec<Weak<RuntimeShared>>> = Mutex::new(Vec::new());

/// Keeps a runtime in the list of live ones until it drops.
pub(crate) struct Registered(Weak<RuntimeShared>);

pub(crate) fn register(runtime: &Arc<RuntimeShared>) -> Registered {
    let weak = Arc::downgrade(runtime);
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|r| r.strong_count() > 0);
    live.push(weak.clone());
    Registered(weak)
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|r| !r.ptr_eq(&self.0) && r.strong_count() > 0);
    }
}

/// What the hubs asked have answered so far.
struct Answers {
    threads: Vec<ThreadInfo>,
    waiting_for: Vec<usize>,
}

/// Every live green thread, and the hubs that did not answer in time (with their runtime's
/// position in the list).
fn collect() -> (Vec<ThreadInfo>, Vec<usize>) {
    let runtimes: Vec<Arc<RuntimeShared>> = LIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let answers = Arc::new(Mutex::new(Answers {
        threads: Vec::new(),
        waiting_for: Vec::new(),
    }));
    let me = GreenThread::current();
    for runtime in &runtimes {
        for hub in &runtime.hubs {
            let own = with_hub(|here| Arc::ptr_eq(&here.shared, hub)).unwrap_or(false);
            if own {
                let snapshot = with_hub(|here| here.snapshot()).unwrap_or_default();
                lock(&answers).threads.extend(snapshot);
                continue;
            }
            lock(&answers).waiting_for.push(hub.index);
            let (answers, me, index) = (answers.clone(), me.clone(), hub.index);
            // Dropped unanswered if the hub has stopped: then it has no green threads.
            let answer = Answer { answers, me, index };
            hub.push_remote(Remote::Visit(Box::new(move |hub| {
                let snapshot = hub.snapshot();
                answer.give(snapshot);
            })));
        }
    }
    let deadline = Instant::now() + ANSWER_WITHIN;
    loop {
        let now = Instant::now();
        if lock(&answers).waiting_for.is_empty() || now >= deadline {
            break;
        }
        crate::park_timeout(deadline - now);
    }
    let mut answers = lock(&answers);
    let silent = std::mem::take(&mut answers.waiting_for);
    (std::mem::take(&mut answers.threads), silent)
}

fn lock(answers: &Mutex<Answers>) -> std::sync::MutexGuard<'_, Answers> {
    answers.lock().unwrap_or_else(|e| e.into_inner())
}

/// One hub's answer on its way back; counts as given (with nothing) if dropped unused.
struct Answer {
    answers: Arc<Mutex<Answers>>,
    me: GreenThread,
    index: usize,
}

impl Answer {
    fn give(self, snapshot: Vec<ThreadInfo>) {
        lock(&self.answers).threads.extend(snapshot);
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        let mut answers = lock(&self.answers);
        if let Some(at) = answers.waiting_for.iter().position(|&i| i == self.index) {
            answers.waiting_for.remove(at);
        }
        drop(answers);
        self.me.unpark();
    }
}

/// Every live green thread of every running runtime: its id, name, hub, and whether it runs,
/// is runnable, or is parked (on what, for how long). Callable from any thread, including a
/// green thread (which then parks while the other hubs answer) and a plain OS thread, while
/// hubs run.
///
/// Each hub lists its own green threads from its loop, so nothing is locked while green threads
/// spawn and park. A hub that does not answer within 200 ms is running a green thread that does
/// not park (see the blocking detector, `GREENHUB_BLOCKING_DETECTOR_MS`); its green threads are
/// missing from the list. The dump on a signal (`GREENHUB_DUMP_SIGNAL`, see the README) names
/// such hubs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// greenhub::run(|| {
///     let sleeper = greenhub::Builder::new()
///         .name("sleeper".into())
///         .spawn(|| greenhub::sleep(Duration::from_secs(3600)))
///         .unwrap();
///     greenhub::yield_now();
///     let threads = greenhub::threads();
///     let found = threads.iter().find(|t| t.name.as_deref() == Some("sleeper")).unwrap();
///     assert!(matches!(found.state, greenhub::ThreadState::Parked { on: "sleep", .. }));
///     println!("{found}"); // green thread 'sleeper' (id 2) on hub 0: parked on sleep for 0 ms
///     sleeper.cancel();
/// });
/// ```
pub fn threads() -> Vec<ThreadInfo> {
    collect().0
}

/// The dump: every green thread, one per line, and the hubs that did not answer.
fn dump(signal: &str) -> String {
    let (threads, silent) = collect();
    let mut text = format!(
        "greenhub: {} green thread(s), dumped on {signal} ({DUMP_ENV}):\n",
        threads.len()
    );
    for thread in &threads {
        text.push_str(&format!("  {thread}\n"));
    }
    for hub in silent {
        text.push_str(&format!(
            "  hub {hub} did not answer within {} ms: a green thread there runs without parking \
             (GREENHUB_BLOCKING_DETECTOR_MS=50 names it)\n",
            ANSWER_WITHIN.as_millis()
        ));
    }
    text
}

/// The signal named by `GREENHUB_DUMP_SIGNAL`: `SIGUSR1`, `USR1`, `usr1` or a number.
fn dump_signal() -> Option<(i32, String)> {
    let value = std::env::var(DUMP_ENV).ok()?;
    let upper = value.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let number = match name {
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "QUIT" => libc::SIGQUIT,
        "HUP" => libc::SIGHUP,
        "WINCH" => libc::SIGWINCH,
        other => other.parse().ok()?,
    };
    Some((number, format!("signal {number} ({value})")))
}

/// Starts, once per process, the thread that prints the dump whenever the signal named by
/// `GREENHUB_DUMP_SIGNAL` arrives. An OS thread, not a green thread: a stuck hub must not keep
/// it from answering "what is stuck?".
pub(crate) fn start_dump_thread_if_asked() {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let Some((number, name)) = dump_signal() else {
        return;
    };
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if *started {
        return;
    }
    let signals = match signal_hook::iterator::Signals::new([number]) {
        Ok(signals) => signals,
        Err(err) => {
            crate::sys::report(&format!(
                "greenhub: {DUMP_ENV}={name}: cannot catch that signal: {err}\n"
            ));
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("greenhub-dump".into())
        .spawn(move || {
            let mut signals = signals;
            for _ in signals.forever() {
                crate::sys::report(&dump(&name));
            }
        });
    *started = spawned.is_ok();
}
