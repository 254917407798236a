//! A seeded, randomized stress suite over every synchronization primitive, through the public
//! API only: channels of all three kinds, `Select`, `Mutex`, `Condvar`, `Semaphore`, `Event`,
//! `WaitGroup`, `Pool`, `JoinHandle::{join, cancel}` and `timeout`.
//!
//! Each seed builds a random workload on a runtime with two hubs. Green threads on both hubs and
//! a few plain OS threads send and receive on unbounded, `bounded(n)` and rendezvous
//! (`bounded(0)`) channels with every send and receive method and with `Select` (receive arms,
//! send arms, timeout and default arms); take a `Mutex`, wait on a `Condvar`, acquire a
//! `Semaphore`, wait for an `Event` and a `WaitGroup`, spawn into a `Pool` and join green threads
//! under short `timeout` scopes. Meanwhile a driver green thread cancels random workers, and the
//! workers wrap random calls in `timeout` scopes of zero to a few milliseconds, so that
//! cancellation and deadlines reach every park point. Some cancelled workers run destructors that
//! park, as real cleanup code does.
//!
//! At the end of each seed the suite checks the promises of DESIGN.md ("Promises at the edges"):
//!
//! 1. Every message is received exactly once, or handed back to its sender (inside an error, a
//!    `Select` send arm's `Err`, or dropped undelivered because the send was cut short). Each
//!    message is a [`Msg`] whose destructor writes its fate into a [`Ledger`]; each send attempt
//!    writes what its sender was told. A message both received and reported as not sent, lost,
//!    or received twice is a failure; so is a send that reported `Ok` on a drained channel whose
//!    message nobody received.
//! 2. Semaphore permits and Pool slots are conserved: `available()` is back to the initial count,
//!    `Pool::running()` is 0 and a pool with nothing running accepts `size` new spawns.
//! 3. Mutual exclusion: never two holders inside the `Mutex` (held across parks), never more than
//!    N inside the `Semaphore`, never more than `size` tasks inside the `Pool`.
//! 4. Every waiter that should finish does: receivers see disconnection, `Event` and `WaitGroup`
//!    waiters return, `Condvar` waiters whose predicate became true return (a notify must not be
//!    lost when the chosen waiter is cancelled or times out while retaking the mutex).
//! 5. No green thread is left parked: everything is joined within a deadline, or the seed fails
//!    naming what each straggler was doing.
//! 6. Idle CPU returns to zero: with waiters parked on every primitive (and two `Select`s sharing
//!    one channel from each side), the process uses under 50 ms of CPU in 300 ms.
//!
//! Along the way: a `timeout` whose deadline passes inside a park must end it, a park after
//! `cancel()` must unwind, a join cut short by `timeout` must not throw away a finished result,
//! and each producer's messages reach each receiver in order.
//!
//! # Running it
//!
//! ```text
//! cargo test -p greenhub --test stress -- --nocapture                 # seeds 1..=8, the default
//! GREENHUB_STRESS_SEED=17 cargo test -p greenhub --test stress -- --nocapture    # one seed
//! GREENHUB_STRESS_SEEDS=100 cargo test --release -p greenhub --test stress -- --nocapture
//! GREENHUB_STRESS_SECS=600 cargo test --release -p greenhub --test stress -- --nocapture   # long
//! ```
//!
//! A seed fixes the workload (who does what, with which method, how often, with which timeouts);
//! the interleaving of two hubs and the OS threads still differs from run to run, so
//! `GREENHUB_STRESS_REPEAT=20` runs one seed twenty times. For diagnosis only,
//! `GREENHUB_STRESS_SKIP=pool,condvar` switches scenarios off (see [`SCENARIOS`]) and
//! `GREENHUB_STRESS_KEEP_GOING=1` keeps running seeds after one fails. Everything stays in one
//! `#[test]`, seeds one after another, because the idle-CPU check measures the whole process.
//!
//! A per-seed watchdog thread ends the process with exit code 101 after 60 s
//! (`GREENHUB_STRESS_WATCHDOG_SECS`), printing the seed and what every unfinished thread was
//! doing, so a hang cannot hang CI. Short of that, a workload that has not finished 20 s after
//! it started fails the seed with the same report, and the suite moves on.
//!
//! [`Msg`]: ledger::Msg
//! [`Ledger`]: ledger::Ledger

mod bounce;
mod broken;
mod channels;
mod checks;
mod condvar;
mod crew;
mod idle;
mod ledger;
mod locks;
mod main_thread;
mod pool;
mod selector;
mod shared;
mod waits;
mod worker;

use crate::broken::{lock, panic_text, Broken};
use crate::checks::{check_ledger, join_leftovers};
use crate::ledger::Fate;
use crate::main_thread::main_green_thread;
use crate::shared::Shared;
use fastrand::Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Hubs per seed: enough for cross-hub wakes, few enough for a two-core machine.
pub(crate) const HUBS: usize = 2;
/// Seeds run by a plain `cargo test`: about 1.5 s each in a debug build when nothing fails.
const DEFAULT_SEEDS: u64 = 8;
/// How long a seed's workload may run before its stragglers count as hung.
pub(crate) const WORKLOAD_DEADLINE: Duration = Duration::from_secs(20);
/// How long the idle-phase waiters may take to finish once released.
pub(crate) const JOIN_DEADLINE: Duration = Duration::from_secs(10);
/// After this the watchdog reports the seed and ends the process.
const WATCHDOG_DEADLINE: Duration = Duration::from_secs(60);
/// Quiet time before the idle CPU is measured, for the hubs to finish trimming stacks.
pub(crate) const IDLE_SETTLE: Duration = Duration::from_millis(100);
pub(crate) const IDLE_WINDOW: Duration = Duration::from_millis(300);
/// Generous: sleeping hubs use about nothing, a livelock burns the whole window on a core.
pub(crate) const IDLE_CPU_LIMIT: Duration = Duration::from_millis(50);

/// Names `GREENHUB_STRESS_SKIP` accepts, to switch one scenario off while diagnosing another.
const SCENARIOS: &[&str] = &[
    "rendezvous",             // no bounded(0) channels at all
    "select-send-rendezvous", // no Select without timeout that relies on a rendezvous send arm
    "bounce",                 // no pairs of Selects sharing one channel
    "mutex",
    "condvar",
    "semaphore",
    "event",
    "waitgroup",
    "pool",
    "join-timeout", // joins never wrapped in `timeout`
    "farewell",     // no destructors that park while unwinding
    "cancel",       // the driver cancels nothing
    "scopes",       // no `timeout` scopes around calls
    "os-threads",
    "idle-cpu",
];

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_number(name: &str) -> Option<u64> {
    env_var(name).map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a whole number"))
    })
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    skip: Vec<String>,
    keep_going: bool,
}

impl Config {
    fn from_env() -> Config {
        let skip: Vec<String> = env_var("GREENHUB_STRESS_SKIP")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for name in &skip {
            assert!(
                SCENARIOS.contains(&name.as_str()),
                "GREENHUB_STRESS_SKIP: unknown scenario {name:?}; known: {}",
                SCENARIOS.join(", ")
            );
        }
        let keep_going = env_var("GREENHUB_STRESS_KEEP_GOING").is_some_and(|v| v != "0");
        Config { skip, keep_going }
    }

    fn runs(&self, scenario: &str) -> bool {
        !self.skip.iter().any(|s| s == scenario)
    }
}

/// The seeds to run, from the environment (see the module docs).
enum SeedPlan {
    Listed(std::vec::IntoIter<u64>),
    Until { next: u64, end: Instant },
}

impl SeedPlan {
    fn from_env() -> SeedPlan {
        let repeat = env_number("GREENHUB_STRESS_REPEAT").unwrap_or(1) as usize;
        if let Some(seed) = env_number("GREENHUB_STRESS_SEED") {
            return SeedPlan::Listed(vec![seed; repeat.max(1)].into_iter());
        }
        if let Some(secs) = env_number("GREENHUB_STRESS_SECS") {
            // A long run starts somewhere new each time, so repeated long runs cover new seeds.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            return SeedPlan::Until {
                next: now.as_secs() % 1_000_000 * 1000,
                end: Instant::now() + Duration::from_secs(secs),
            };
        }
        let count = env_number("GREENHUB_STRESS_SEEDS").unwrap_or(DEFAULT_SEEDS);
        SeedPlan::Listed((1..=count).collect::<Vec<_>>().into_iter())
    }
}

impl Iterator for SeedPlan {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match self {
            SeedPlan::Listed(seeds) => seeds.next(),
            SeedPlan::Until { next, end } => (Instant::now() < *end).then(|| {
                *next += 1;
                *next - 1
            }),
        }
    }
}

/// How long a seed's workload runs: long enough for many cancels and expiring scopes at every
/// park point, short enough for several seeds in a default test run.
fn workload_duration(seed: u64) -> Duration {
    Duration::from_millis(Rng::with_seed(seed.wrapping_mul(31) ^ 0x5eed).u64(300..=1200))
}

pub(crate) fn micros(n: u64) -> Duration {
    Duration::from_micros(n)
}

struct SeedReport {
    seed: u64,
    elapsed: Duration,
    messages: usize,
    received: usize,
    returned: usize,
    cut_short: usize,
    cancels: u64,
    cancelled: u64,
    scopes_expired: u64,
    timed_waits: u64,
    idle_cpu: Option<Duration>,
    failures: Vec<(Broken, String)>,
}

impl SeedReport {
    fn summary(&self) -> String {
        let idle = self.idle_cpu.map_or("-".to_string(), |cpu| {
            format!("{:.1} ms", cpu.as_secs_f64() * 1000.0)
        });
        let verdict = if self.failures.is_empty() {
            "ok".to_string()
        } else {
            format!("FAILED ({} problems)", self.failures.len())
        };
        format!(
            "stress seed {}: {} messages ({} received, {} returned, {} cut short), {} cancels \
             ({} took effect), {} timeout scopes expired, {} timed waits expired, idle CPU {idle} \
             in {IDLE_WINDOW:?}, {:.2} s: {verdict}",
            self.seed,
            self.messages,
            self.received,
            self.returned,
            self.cut_short,
            self.cancels,
            self.cancelled,
            self.scopes_expired,
            self.timed_waits,
            self.elapsed.as_secs_f64(),
        )
    }

    /// How many failures of each kind.
    fn counts(&self) -> BTreeMap<Broken, usize> {
        let mut counts = BTreeMap::new();
        for (broken, _) in &self.failures {
            *counts.entry(*broken).or_default() += 1;
        }
        counts
    }

    /// The failures grouped by kind, a few examples of each.
    fn details(&self) -> String {
        let mut groups: BTreeMap<Broken, Vec<&String>> = BTreeMap::new();
        for (broken, detail) in &self.failures {
            groups.entry(*broken).or_default().push(detail);
        }
        let mut text = format!("stress seed {} failed:\n", self.seed);
        for (broken, details) in groups {
            text += &format!(
                "  [{broken:?}] {} ({} times)\n",
                broken.what(),
                details.len()
            );
            for detail in details.iter().take(6) {
                text += &format!("    - {detail}\n");
            }
            if details.len() > 6 {
                text += &format!("    - ... and {} more\n", details.len() - 6);
            }
        }
        text += &format!(
            "  re-run just this seed: GREENHUB_STRESS_SEED={} cargo test -p greenhub --test \
             stress -- --nocapture (interleavings vary: add GREENHUB_STRESS_REPEAT=20)\n",
            self.seed
        );
        text
    }
}

/// Ends the process with a report if a seed outlives `WATCHDOG_DEADLINE`.
struct Watchdog {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn start(shared: Arc<Shared>) -> Watchdog {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("stress-watchdog".into())
            .spawn(move || {
                let deadline = env_number("GREENHUB_STRESS_WATCHDOG_SECS")
                    .map_or(WATCHDOG_DEADLINE, Duration::from_secs);
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(deadline)
                {
                    // Straight to the file descriptor: the test harness's capture would be lost
                    // with the process.
                    let report = shared.watchdog_report();
                    let _ = std::io::stderr().lock().write_all(report.as_bytes());
                    std::process::exit(101);
                }
            })
            .expect("the OS can start the watchdog thread");
        Watchdog { stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn run_seed(seed: u64, config: &Config) -> SeedReport {
    let shared = Arc::new(Shared::new(seed, config.clone(), workload_duration(seed)));
    let watchdog = Watchdog::start(shared.clone());
    let runtime = greenhub::Runtime::builder()
        .hubs(HUBS)
        .build()
        .expect("a runtime with two hubs");
    let main_shared = shared.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.run(move || main_green_thread(main_shared))
    }));
    let (leftovers, panicked) = match outcome {
        Ok(leftovers) => (leftovers, false),
        Err(payload) => {
            shared.violation(
                Broken::Panicked,
                format!("the main green thread panicked: {}", panic_text(&*payload)),
            );
            (Vec::new(), true)
        }
    };
    shared.set_phase("joining OS threads after the runtime ended");
    let stuck = join_leftovers(&shared, leftovers);
    shared.set_phase("checking the ledger");
    check_ledger(
        &shared,
        stuck == 0 && !panicked && !shared.has(Broken::Hang),
    );
    watchdog.stop();

    let idle_cpu = *lock(&shared.idle_cpu);
    let failures = lock(&shared.failures).clone();
    let records = lock(&shared.ledger.records);
    let channel_messages = records.iter().filter(|r| r.channel.is_some());
    let count = |fate: Fate| channel_messages.clone().filter(|r| r.fate == fate).count();
    SeedReport {
        seed,
        elapsed: shared.started.elapsed(),
        messages: channel_messages.clone().count(),
        received: channel_messages
            .clone()
            .filter(|r| r.received_by.is_some())
            .count(),
        returned: count(Fate::Returned),
        cut_short: count(Fate::CutShort),
        cancels: shared.stats.cancels.load(SeqCst),
        cancelled: shared.stats.cancelled.load(SeqCst),
        scopes_expired: shared.stats.scopes_expired.load(SeqCst),
        timed_waits: shared.stats.timed_waits.load(SeqCst),
        idle_cpu,
        failures,
    }
}

#[test]
fn every_primitive_keeps_its_promises_under_random_cancellation_and_timeouts() {
    let config = Config::from_env();
    let mut failed = Vec::new();
    for seed in SeedPlan::from_env() {
        let report = run_seed(seed, &config);
        println!("{}", report.summary());
        if !report.failures.is_empty() {
            for (broken, count) in report.counts() {
                println!("    {count} x [{broken:?}] {}", broken.what());
            }
            failed.push(report);
            if !config.keep_going {
                break;
            }
        }
    }
    let message: String = failed.iter().map(SeedReport::details).collect();
    assert!(failed.is_empty(), "\n{message}");
}
