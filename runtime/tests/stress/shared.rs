//! The shared state of one seed: failures, what each worker is doing (for hang reports) and
//! counters, plus the guards a worker carries ([`Live`], [`Farewell`], [`Occupancy`]).

use crate::broken::{lock, Broken};
use crate::ledger::Ledger;
use crate::{micros, Config, HUBS};
use fastrand::Rng;
use greenhub::sync::Mutex;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) cancels: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) scopes_expired: AtomicU64,
    pub(crate) timed_waits: AtomicU64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Running,
    Returned,
    Unwound,
}

/// What one worker is doing, for hang reports.
pub(crate) struct Slot {
    name: String,
    pub(crate) doing: &'static str,
    pub(crate) on: Option<usize>,
    state: SlotState,
}

pub(crate) struct Shared {
    pub(crate) seed: u64,
    pub(crate) config: Config,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) failures: StdMutex<Vec<(Broken, String)>>,
    pub(crate) activity: StdMutex<Vec<Slot>>,
    phase: StdMutex<&'static str>,
    pub(crate) started: Instant,
    /// Workers stop starting new operations after this (their counts are only caps).
    pub(crate) workload_end: Instant,
    pub(crate) stats: Stats,
    pub(crate) idle_cpu: StdMutex<Option<Duration>>,
    /// Per hub: green threads parked right now in a destructor while unwinding, and how often
    /// that happened; quoted when a neighbour's cancel or deadline goes unnoticed.
    pub(crate) unwinding_parked: [AtomicUsize; HUBS],
    pub(crate) unwinding_parks: [AtomicUsize; HUBS],
    /// Taken by parking destructors, as cleanup code takes a lock to leave a room.
    farewell_lock: Mutex<()>,
}

impl Shared {
    pub(crate) fn new(seed: u64, config: Config, workload: Duration) -> Shared {
        Shared {
            seed,
            config,
            ledger: Arc::default(),
            failures: StdMutex::default(),
            activity: StdMutex::default(),
            phase: StdMutex::new("starting"),
            started: Instant::now(),
            workload_end: Instant::now() + workload,
            stats: Stats::default(),
            idle_cpu: StdMutex::default(),
            unwinding_parked: Default::default(),
            unwinding_parks: Default::default(),
            farewell_lock: Mutex::new(()),
        }
    }

    pub(crate) fn violation(&self, broken: Broken, detail: String) {
        lock(&self.failures).push((broken, detail));
    }

    pub(crate) fn has(&self, broken: Broken) -> bool {
        lock(&self.failures).iter().any(|(b, _)| *b == broken)
    }

    pub(crate) fn set_phase(&self, phase: &'static str) {
        *lock(&self.phase) = phase;
    }

    pub(crate) fn add_slot(&self, name: String) -> usize {
        let mut activity = lock(&self.activity);
        activity.push(Slot {
            name,
            doing: "starting",
            on: None,
            state: SlotState::Running,
        });
        activity.len() - 1
    }

    pub(crate) fn slot_name(&self, slot: usize) -> String {
        lock(&self.activity)[slot].name.clone()
    }

    fn describe_slot(slot: &Slot) -> String {
        match slot.on {
            Some(channel) => format!("{}: {} on channel {channel}", slot.name, slot.doing),
            None => format!("{}: {}", slot.name, slot.doing),
        }
    }

    pub(crate) fn describe_slots(&self, slots: &[usize]) -> String {
        let activity = lock(&self.activity);
        slots
            .iter()
            .map(|&s| format!("    {}\n", Shared::describe_slot(&activity[s])))
            .collect()
    }

    /// Everything the watchdog knows, for a report on stderr just before it ends the process.
    pub(crate) fn watchdog_report(&self) -> String {
        let activity = lock(&self.activity);
        let running: String = activity
            .iter()
            .filter(|s| s.state == SlotState::Running)
            .map(|s| format!("    {}\n", Shared::describe_slot(s)))
            .collect();
        let failures: String = lock(&self.failures)
            .iter()
            .map(|(b, d)| format!("    [{b:?}] {d}\n"))
            .collect();
        format!(
            "\nstress seed {seed}: WATCHDOG: still running after {:?}, in phase {:?}.\n  \
             still running:\n{running}  failures so far:\n{failures}  re-run just this seed: \
             GREENHUB_STRESS_SEED={seed} cargo test -p greenhub --test stress -- --nocapture\n",
            self.started.elapsed(),
            *lock(&self.phase),
            seed = self.seed,
        )
    }
}

/// Marks a worker's slot finished however the worker ends.
pub(crate) struct Live {
    pub(crate) shared: Arc<Shared>,
    pub(crate) slot: usize,
    pub(crate) returned: bool,
}

impl Drop for Live {
    fn drop(&mut self) {
        let state = if self.returned {
            SlotState::Returned
        } else {
            SlotState::Unwound
        };
        lock(&self.shared.activity)[self.slot].state = state;
    }
}

/// A destructor that parks when its green thread unwinds (cancelled, or a `timeout` scope
/// expired), as real cleanup code does: a short sleep, a yield, a lock to leave a room. Parking
/// there is allowed ("parks normally"), and must not change what the hub's other green threads
/// see. It parks only while armed, that is while unwinding: a destructor that parked on the
/// normal path inside a `timeout` scope could itself be cut short after the operation had
/// happened, which would be the test's fault, not the runtime's.
pub(crate) struct Farewell {
    shared: Arc<Shared>,
    pub(crate) armed: bool,
    how: u8,
    nap: Duration,
}

impl Farewell {
    pub(crate) fn random(shared: Arc<Shared>, rng: &mut Rng) -> Farewell {
        Farewell {
            shared,
            armed: true,
            how: rng.u8(0..3),
            nap: micros(rng.u64(0..1500)),
        }
    }
}

impl Drop for Farewell {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let hub = greenhub::current_hub();
        if let Some(h) = hub {
            self.shared.unwinding_parked[h].fetch_add(1, SeqCst);
            self.shared.unwinding_parks[h].fetch_add(1, SeqCst);
        }
        match self.how {
            0 => greenhub::sleep(self.nap),
            1 => greenhub::yield_now(),
            _ => {
                let _room = self.shared.farewell_lock.lock();
                greenhub::yield_now();
            }
        }
        if let Some(h) = hub {
            self.shared.unwinding_parked[h].fetch_sub(1, SeqCst);
        }
    }
}

/// Counts the holders of a lock, permit or pool slot while alive.
pub(crate) struct Occupancy<'a> {
    count: &'a AtomicUsize,
}

impl<'a> Occupancy<'a> {
    pub(crate) fn enter(
        count: &'a AtomicUsize,
        limit: usize,
        broken: Broken,
        report: impl Fn(String),
    ) -> Self {
        let now = count.fetch_add(1, SeqCst) + 1;
        if now > limit {
            report(format!(
                "{now} holders at once (limit {limit}) [{broken:?}]"
            ));
        }
        Occupancy { count }
    }
}

impl Drop for Occupancy<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, SeqCst);
    }
}
