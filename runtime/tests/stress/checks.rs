//! What the main green thread keeps of a seed ([`Cases`]) and checks: that every worker
//! finished in time (naming the stragglers), conservation and exclusion once the workload has
//! ended, and the message ledger and leftover OS threads once the runtime has ended.

use crate::bounce::Bounce;
use crate::broken::{lock, panic_text, Broken};
use crate::condvar::{CondvarCase, ONE_SHOT};
use crate::crew::{OsTracked, Tracked};
use crate::ledger::{Fate, Kind};
use crate::locks::{MutexCase, SemaphoreCase};
use crate::pool::PoolCase;
use crate::shared::Shared;
use greenhub::sync::Event;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The seed's primitives, kept by the main green thread for the checks and the idle window.
#[derive(Default)]
pub(crate) struct Cases {
    pub(crate) mutex: Option<Arc<MutexCase>>,
    pub(crate) semaphore: Option<Arc<SemaphoreCase>>,
    pub(crate) condvar: Option<Arc<CondvarCase>>,
    pub(crate) event: Option<Arc<Event>>,
    pub(crate) pool: Option<Arc<PoolCase>>,
    pub(crate) bounce: Option<Bounce>,
}

impl Cases {
    /// The state of each primitive in one line, for hang reports.
    fn describe(&self, shared: &Shared) -> String {
        let mut parts = Vec::new();
        if let Some(case) = &self.mutex {
            parts.push(format!("mutex locked: {}", case.mutex.try_lock().is_none()));
        }
        if let Some(case) = &self.semaphore {
            parts.push(format!(
                "semaphore: {} of {} permits available",
                case.semaphore.available(),
                case.permits
            ));
        }
        if let Some(case) = &self.condvar {
            parts.push(match case.state.try_lock() {
                Some(t) => format!(
                    "condvar: {} ticket(s) available, {} produced, {} taken, {} waiting",
                    t.available,
                    t.produced,
                    t.taken,
                    case.waiting.load(SeqCst)
                ),
                None => {
                    let holder = match case.holder.load(SeqCst) {
                        0 => "nobody should".to_string(),
                        ONE_SHOT => "a one-shot consumer".to_string(),
                        slot => shared.slot_name(slot - 1),
                    };
                    format!(
                        "condvar: its mutex is held ({holder}), {} waiting",
                        case.waiting.load(SeqCst)
                    )
                }
            });
        }
        if let Some(event) = &self.event {
            parts.push(format!("event set: {}", event.is_set()));
        }
        if let Some(case) = &self.pool {
            parts.push(format!(
                "pool: {} running of {}",
                case.pool.running(),
                case.size
            ));
        }
        parts.join("; ")
    }
}

/// Polls until every listed worker has finished or the deadline passes; returns the slots of
/// those still running. Polling (not a `timeout` around `join`) keeps the results intact.
pub(crate) fn wait_finished(green: &[&Tracked], os: &[OsTracked], deadline: Instant) -> Vec<usize> {
    loop {
        let running: Vec<usize> = green
            .iter()
            .filter(|t| !t.handle.is_finished())
            .map(|t| t.slot)
            .chain(
                os.iter()
                    .filter(|t| !t.handle.is_finished())
                    .map(|t| t.slot),
            )
            .collect();
        if running.is_empty() || Instant::now() >= deadline {
            return running;
        }
        greenhub::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn join_green(shared: &Shared, workers: Vec<Tracked>) {
    for worker in workers {
        let name = shared.slot_name(worker.slot);
        match worker.handle.join() {
            Ok(()) => {}
            Err(e) if e.is_cancelled() => {
                shared.stats.cancelled.fetch_add(1, SeqCst);
                if !worker.cancellable {
                    shared.violation(Broken::UnexpectedCancel, format!("{name} ended cancelled"));
                }
            }
            Err(e) => shared.violation(Broken::Panicked, format!("{name} panicked: {e}")),
        }
    }
}

pub(crate) fn join_os(shared: &Shared, threads: Vec<OsTracked>) {
    for thread in threads {
        if let Err(payload) = thread.handle.join() {
            let name = shared.slot_name(thread.slot);
            shared.violation(
                Broken::Panicked,
                format!("{name} panicked: {}", panic_text(&*payload)),
            );
        }
    }
}

pub(crate) fn report_hang(shared: &Shared, phase: &str, stuck: &[usize], cases: &Cases) {
    shared.violation(
        Broken::Hang,
        format!(
            "{} thread(s) still running {phase}, past the deadline:\n{}    state: {}",
            stuck.len(),
            shared.describe_slots(stuck),
            cases.describe(shared)
        ),
    );
}

/// Conservation and exclusion, once every workload thread has ended.
pub(crate) fn check_primitives(shared: &Shared, cases: &Cases) {
    if let Some(case) = &cases.mutex {
        let value = *case.mutex.lock();
        let completed = case.completed.load(SeqCst);
        if value != completed {
            shared.violation(
                Broken::LostUpdate,
                format!("the counter is {value} after {completed} completed increments"),
            );
        }
    }
    if let Some(case) = &cases.semaphore {
        let available = case.semaphore.available();
        if available != case.permits {
            shared.violation(
                Broken::PermitsLeaked,
                format!("available() is {available} of {} permits", case.permits),
            );
        }
    }
    if let Some(case) = &cases.condvar {
        let tickets = case.state.lock();
        if tickets.available + tickets.taken != tickets.produced {
            shared.violation(
                Broken::CondvarTickets,
                format!(
                    "{} produced, {} taken, {} left",
                    tickets.produced, tickets.taken, tickets.available
                ),
            );
        }
    }
    if let Some(event) = &cases.event {
        if !event.is_set() {
            shared.violation(Broken::EventNotSet, "the event ended clear".into());
        }
    }
    if let Some(case) = &cases.pool {
        let running = case.pool.running();
        if running != 0 {
            shared.violation(
                Broken::PoolStillRunning,
                format!("Pool::running() is {running} after every user joined"),
            );
        }
    }
}

/// The ledger's verdict on every message once the runtime has ended, grouped by what broke, the
/// kind of channel and the send method. `complete` is false when something hung, so that
/// messages still held by stuck threads are not called lost.
pub(crate) fn check_ledger(shared: &Shared, complete: bool) {
    let mut groups: BTreeMap<(Broken, String), Vec<usize>> = BTreeMap::new();
    {
        let records = lock(&shared.ledger.records);
        for (id, r) in records.iter().enumerate() {
            let place = match r.channel {
                Some(channel) => {
                    let class = if channel.drained {
                        "drained"
                    } else {
                        "closing"
                    };
                    let kind = match channel.kind {
                        Kind::Unbounded => "unbounded".to_string(),
                        Kind::Bounded(n) => format!("bounded({n})"),
                        Kind::Rendezvous => "rendezvous".to_string(),
                    };
                    format!("on {kind} ({class}) channels, last sent via {}", r.how)
                }
                None => "join tokens".to_string(),
            };
            let mut note = |broken: Broken, what: &str| {
                groups
                    .entry((broken, format!("{place}: {what}")))
                    .or_default()
                    .push(id);
            };
            if r.drops > 1 {
                note(Broken::Duplicated, "dropped more than once");
            }
            if complete && r.drops == 0 {
                note(Broken::Lost, "never dropped");
            }
            if r.channel.is_none() {
                continue;
            }
            match (r.fate, r.received_by.is_some()) {
                (Fate::CutShort, true) => note(
                    Broken::DeliveredAfterCutShort,
                    "the sender was told it was not sent",
                ),
                (Fate::NotChosen, true) => note(
                    Broken::DeliveredFromUnchosenArm,
                    "the Select fired another arm",
                ),
                (Fate::Returned, true) => {
                    note(Broken::DeliveredAndReturned, "the value also came back")
                }
                (Fate::Sent, false) if complete && r.strict => {
                    note(Broken::SentButNeverReceived, "Ok, but no receiver had it")
                }
                (Fate::InFlight, _) if complete => {
                    note(Broken::Lost, "the send never ended, yet its sender did")
                }
                _ => {}
            }
        }
    }
    for ((broken, what), ids) in groups {
        let examples: Vec<String> = ids.iter().take(4).map(|id| format!("#{id}")).collect();
        shared.violation(
            broken,
            format!(
                "{} message(s) {what} (e.g. {})",
                ids.len(),
                examples.join(", ")
            ),
        );
    }
}

/// Joins OS threads left over after a hang, giving the runtime's shutdown time to free them.
pub(crate) fn join_leftovers(shared: &Shared, leftovers: Vec<OsTracked>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    while leftovers.iter().any(|t| !t.handle.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (finished, stuck): (Vec<_>, Vec<_>) =
        leftovers.into_iter().partition(|t| t.handle.is_finished());
    join_os(shared, finished);
    if !stuck.is_empty() {
        let slots: Vec<usize> = stuck.iter().map(|t| t.slot).collect();
        shared.violation(
            Broken::Hang,
            format!(
                "{} OS thread(s) still blocked after the runtime ended (left running; after a \
                 hang this may be a consequence, as an OS thread can hold the other end of what \
                 it waits for):\n{}",
                stuck.len(),
                shared.describe_slots(&slots)
            ),
        );
    }
    stuck.len()
}
