//! The `Condvar` scenario: a conductor hands out tickets one at a time to steady and one-shot
//! consumers, and reports a notify lost when the chosen waiter is cancelled or times out.

use crate::broken::Broken;
use crate::crew::{Crew, Role};
use crate::shared::Shared;
use crate::worker::Ctx;
use crate::{micros, HUBS};
use greenhub::sync::{Condvar, Mutex};
use greenhub::JoinHandle;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tickets handed out through a `Condvar`, one at a time: each ticket comes with a `notify_one`
/// (now and then a `notify_all`), and the conductor waits for it to be taken before adding the
/// next. Steady consumers wait with plain `wait` and never give up; one-shot consumers wait once
/// (in a short `timeout` scope, with `wait_timeout`, or with a plain `wait` that the conductor
/// may cancel) and leave. The conductor keeps the mutex a moment after notifying, so the chosen
/// waiter parks again retaking it, and that is when scopes expire and cancels land.
///
/// A ticket left untaken while consumers wait in `Condvar::wait` means its notify was lost: in a
/// correct runtime the chosen waiter takes the ticket or, when it leaves, passes the notify on.
#[derive(Default)]
pub(crate) struct Tickets {
    pub(crate) available: u64,
    pub(crate) taken: u64,
    pub(crate) produced: u64,
    /// The idle-phase waiter waits for this.
    pub(crate) released: bool,
}

pub(crate) struct CondvarCase {
    pub(crate) state: Mutex<Tickets>,
    pub(crate) condvar: Condvar,
    /// Consumers inside `Condvar::wait` or `wait_timeout` right now (registered, parked, or
    /// retaking the mutex).
    pub(crate) waiting: AtomicUsize,
    /// Who holds `state`'s lock, for hang reports: a slot plus one, [`ONE_SHOT`], or 0.
    pub(crate) holder: AtomicUsize,
    steady_left: AtomicUsize,
}

/// `CondvarCase::holder` for the conductor's one-shot consumers, which have no slot.
pub(crate) const ONE_SHOT: usize = usize::MAX;

/// How long a handed-over ticket may stay untaken, with consumers waiting, before the notify
/// counts as lost. Generous: a woken consumer needs only its turn on its hub.
const HANDOFF_DEADLINE: Duration = Duration::from_secs(2);

/// Counts a consumer as waiting on the Condvar while alive, also if the wait unwinds.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

type TicketsGuard<'a> = greenhub::sync::MutexGuard<'a, Tickets>;

impl CondvarCase {
    fn lock(&self, holder: usize) -> TicketsGuard<'_> {
        let tickets = self.state.lock();
        self.holder.store(holder, SeqCst);
        tickets
    }

    fn unlock(&self, tickets: TicketsGuard<'_>) {
        self.holder.store(0, SeqCst);
        drop(tickets);
    }

    /// `Condvar::wait`, counted in `waiting`; with a timeout when `within` is given.
    fn wait<'a>(
        &self,
        tickets: TicketsGuard<'a>,
        holder: usize,
        within: Option<Duration>,
    ) -> (TicketsGuard<'a>, bool) {
        self.holder.store(0, SeqCst);
        let waiting = Waiting::enter(&self.waiting);
        let (tickets, timed_out) = match within {
            Some(d) => self.condvar.wait_timeout(tickets, d),
            None => (self.condvar.wait(tickets), false),
        };
        drop(waiting);
        self.holder.store(holder, SeqCst);
        (tickets, timed_out)
    }

    /// Waits until a ticket is available and takes it; with `within`, gives up when a wait
    /// times out and still no ticket is there (checking first, as correct code must: a notify
    /// may come together with the timeout).
    fn take(&self, holder: usize, within: Option<Duration>) -> bool {
        let mut tickets = self.lock(holder);
        while tickets.available == 0 {
            let (again, timed_out) = self.wait(tickets, holder, within);
            tickets = again;
            if timed_out && tickets.available == 0 {
                self.unlock(tickets);
                return false;
            }
        }
        tickets.available -= 1;
        tickets.taken += 1;
        self.unlock(tickets);
        true
    }
}

/// Takes `demand` tickets with plain `wait`: never cancelled, never timed out.
fn condvar_steady(mut ctx: Ctx, case: Arc<CondvarCase>, demand: u64) {
    for _ in 0..demand {
        ctx.doing("Condvar::wait (steady, for a ticket)", None);
        case.take(ctx.slot + 1, None);
        ctx.pause();
    }
    case.steady_left.fetch_sub(1, SeqCst);
}

/// Waits once for a ticket, in one of three ways that can end without one.
fn condvar_one_shot(shared: Arc<Shared>, case: Arc<CondvarCase>, how: u8, within: Duration) {
    match how {
        0 => {
            if greenhub::timeout(within, || case.take(ONE_SHOT, None)).is_err() {
                shared.stats.scopes_expired.fetch_add(1, SeqCst);
            }
        }
        1 => {
            if !case.take(ONE_SHOT, Some(within)) {
                shared.stats.timed_waits.fetch_add(1, SeqCst);
            }
        }
        _ => {
            case.take(ONE_SHOT, None); // a plain wait; the conductor may cancel it
        }
    }
}

/// Waits until the ticket just added has been taken. Moves on after a moment when nobody
/// waits; reports a lost notify when the ticket sits there while consumers wait.
fn await_handoff(ctx: &mut Ctx, case: &CondvarCase, how: &str) {
    let since = Instant::now();
    loop {
        let nap = micros(ctx.rng.u64(100..500));
        ctx.doing("waiting for the ticket to be taken", None);
        ctx.park_point("sleep", || greenhub::sleep(nap));
        ctx.doing("Mutex::lock (is the ticket taken?)", None);
        let tickets = case.lock(ctx.slot + 1);
        let (available, waiting) = (tickets.available, case.waiting.load(SeqCst));
        case.unlock(tickets);
        if available == 0 || (waiting == 0 && since.elapsed() > Duration::from_millis(20)) {
            return;
        }
        if since.elapsed() > HANDOFF_DEADLINE {
            ctx.violation(
                Broken::CondvarLostNotify,
                format!(
                    "after {how}, {available} ticket(s) stayed available for \
                     {HANDOFF_DEADLINE:?} while {waiting} consumer(s) waited in Condvar::wait"
                ),
            );
            // Wake everyone, so that one lost notify does not hide what else the seed finds.
            case.condvar.notify_all();
            return;
        }
    }
}

/// Adds one ticket: notifies, sometimes keeps the mutex a while and cancels the one-shot
/// consumers meanwhile; says how, for reports.
fn add_ticket(ctx: &mut Ctx, case: &CondvarCase, one_shots: &[JoinHandle<()>]) -> String {
    ctx.doing("Mutex::lock (adding a ticket)", None);
    let mut tickets = case.lock(ctx.slot + 1);
    tickets.available += 1;
    tickets.produced += 1;
    if ctx.chance(15) {
        case.unlock(tickets);
        case.condvar.notify_one();
        return "notify_one after unlocking".to_string();
    }
    let notify = if ctx.chance(10) {
        case.condvar.notify_all();
        "notify_all"
    } else {
        case.condvar.notify_one();
        "notify_one"
    };
    // The chosen waiter wakes, finds the mutex held and parks again to retake it.
    let hold = micros(ctx.rng.u64(0..3000));
    ctx.doing("sleep holding the Condvar's mutex", None);
    greenhub::sleep(hold);
    let cancel = !one_shots.is_empty() && ctx.chance(30);
    if cancel {
        one_shots.iter().for_each(JoinHandle::cancel);
    }
    case.unlock(tickets);
    let cancelled = if cancel {
        ", then cancelled the one-shot consumers"
    } else {
        ""
    };
    format!("{notify} holding the mutex for {hold:?}{cancelled}")
}

/// Hands out tickets while the workload lasts and until every steady consumer is satisfied,
/// starting one-shot consumers as it goes.
fn condvar_conductor(mut ctx: Ctx, case: Arc<CondvarCase>) {
    let mut one_shots: Vec<JoinHandle<()>> = Vec::new();
    while ctx.busy() || case.steady_left.load(SeqCst) > 0 {
        if ctx.busy() {
            for _ in 0..ctx.rng.usize(0..=3) {
                let (shared, case) = (ctx.shared.clone(), case.clone());
                let (how, within) = (ctx.rng.u8(0..3), micros(ctx.rng.u64(0..4000)));
                let hub = ctx.rng.usize(0..HUBS);
                one_shots.push(greenhub::spawn_on(hub, move || {
                    condvar_one_shot(shared, case, how, within)
                }));
            }
        }
        let settle = micros(ctx.rng.u64(0..1500));
        ctx.park_point("sleep", || greenhub::sleep(settle)); // everyone parks
        let how = add_ticket(&mut ctx, &case, &one_shots);
        await_handoff(&mut ctx, &case, &how);
        let (done, alive): (Vec<_>, Vec<_>) =
            one_shots.into_iter().partition(JoinHandle::is_finished);
        one_shots = alive;
        join_one_shots(&ctx, done);
    }
    one_shots.iter().for_each(JoinHandle::cancel);
    join_one_shots(&ctx, one_shots);
}

fn join_one_shots(ctx: &Ctx, handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        ctx.doing("JoinHandle::join (a one-shot consumer)", None);
        if let Err(e) = handle.join() {
            if !e.is_cancelled() {
                ctx.violation(
                    Broken::Panicked,
                    format!("a one-shot consumer panicked: {e}"),
                );
            }
        }
    }
}

pub(crate) fn plan_condvar(crew: &mut Crew) -> Option<Arc<CondvarCase>> {
    if !crew.shared.config.runs("condvar") {
        return None;
    }
    let steady = crew.rng.usize(1..=3);
    let case = Arc::new(CondvarCase {
        state: Mutex::new(Tickets::default()),
        condvar: Condvar::new(),
        waiting: AtomicUsize::new(0),
        holder: AtomicUsize::new(0),
        steady_left: AtomicUsize::new(steady),
    });
    for i in 0..steady {
        let (case, place, demand) = (case.clone(), crew.place(true), crew.rng.u64(5..=30));
        let name = format!("condvar steady consumer {i} (wants {demand})");
        crew.start(Role::workload(name, place, false), move |ctx| {
            condvar_steady(ctx, case, demand)
        });
    }
    let (conductor_case, place) = (case.clone(), crew.hub());
    crew.start(
        Role::workload("condvar conductor".into(), place, false),
        move |ctx| condvar_conductor(ctx, conductor_case),
    );
    Some(case)
}
