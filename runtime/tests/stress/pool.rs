//! `Pool` users that spawn, cancel and join tasks while counting how many run at once, and
//! joiners that join green threads under short `timeout` scopes.

use crate::broken::Broken;
use crate::crew::{Crew, Role};
use crate::shared::{Occupancy, Shared};
use crate::worker::Ctx;
use crate::{micros, HUBS};
use fastrand::Rng;
use greenhub::Pool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct PoolCase {
    pub(crate) pool: Pool,
    pub(crate) size: usize,
    running_now: AtomicUsize,
}

fn pool_task(shared: Arc<Shared>, case: Arc<PoolCase>, seed: u64, user: String) {
    let mut rng = Rng::with_seed(seed);
    let _inside = Occupancy::enter(&case.running_now, case.size, Broken::PoolOverfull, |d| {
        shared.violation(Broken::PoolOverfull, format!("a task of {user}: {d}"))
    });
    match rng.u8(0..3) {
        0 => {}
        1 => greenhub::yield_now(),
        _ => greenhub::sleep(micros(rng.u64(0..800))),
    }
}

fn pool_user(mut ctx: Ctx, case: Arc<PoolCase>, tasks: usize) {
    let user = ctx.shared.slot_name(ctx.slot);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        if !ctx.busy() {
            break;
        }
        let (shared, task_case, seed, user) = (
            ctx.shared.clone(),
            case.clone(),
            ctx.rng.u64(..),
            user.clone(),
        );
        ctx.doing("Pool::spawn", None);
        let handle = case
            .pool
            .spawn(move || pool_task(shared, task_case, seed, user));
        match ctx.rng.u8(0..10) {
            // Cancelled before it ever ran: its slot must come back all the same.
            0 | 1 => handle.cancel(),
            2 => case.pool.cancel(),
            _ => {}
        }
        handles.push(handle);
        ctx.pause();
    }
    for handle in handles {
        ctx.doing("JoinHandle::join (pool task)", None);
        if let Err(e) = handle.join() {
            if !e.is_cancelled() {
                ctx.violation(Broken::Panicked, format!("a pool task panicked: {e}"));
            }
        }
    }
    if ctx.chance(50) {
        ctx.doing("Pool::join", None);
        case.pool.join();
    } else {
        ctx.doing("Pool::join_timeout", None);
        loop {
            let d = ctx.short();
            if case.pool.join_timeout(d) {
                break;
            }
            ctx.timed_out();
        }
    }
}

pub(crate) fn plan_pool(crew: &mut Crew) -> Option<Arc<PoolCase>> {
    if !crew.shared.config.runs("pool") {
        return None;
    }
    let size = crew.rng.usize(1..=3);
    let case = Arc::new(PoolCase {
        pool: Pool::new(size),
        size,
        running_now: AtomicUsize::new(0),
    });
    for u in 0..crew.rng.usize(1..=2) {
        let (case, place, cancellable, tasks) = (
            case.clone(),
            crew.hub(),
            crew.percent(25),
            crew.rng.usize(50..=500),
        );
        let role = Role::workload(
            format!("pool user {u} (pool of {size})"),
            place,
            cancellable,
        );
        crew.start(role, move |ctx| pool_user(ctx, case, tasks));
    }
    Some(case)
}

/// How long before a `timeout` scope's deadline a child must have finished for a join that
/// still returns `Elapsed` to count as throwing its result away.
const JOIN_RACE_MARGIN: Duration = Duration::from_micros(200);

/// Spawns children that return a token and joins them, often inside a short `timeout`: an
/// expiring scope must not throw away a result that was already there.
fn joiner(mut ctx: Ctx, rounds: usize) {
    let me = greenhub::current().id().as_u64();
    let scoped = ctx.shared.config.runs("join-timeout");
    for _ in 0..rounds {
        if !ctx.busy() {
            break;
        }
        let token = ctx.new_token();
        let id = token.id;
        let ledger = ctx.shared.ledger.clone();
        let nap = match ctx.rng.u8(0..3) {
            0 => None,
            1 => Some(Duration::ZERO),
            _ => Some(micros(ctx.rng.u64(0..2000))),
        };
        let child = greenhub::spawn_on(ctx.rng.usize(0..HUBS), move || {
            if let Some(nap) = nap {
                greenhub::sleep(nap);
            }
            ledger.finished(id);
            token
        });
        if ctx.chance(15) {
            child.cancel();
        }
        if scoped && ctx.chance(70) {
            let d = ctx.short();
            let deadline = Instant::now() + d;
            ctx.doing("JoinHandle::join in a timeout scope", None);
            match greenhub::timeout(d, || child.join()) {
                Ok(joined) => ctx.joined_token(joined),
                Err(_) => {
                    ctx.shared.stats.scopes_expired.fetch_add(1, SeqCst);
                    // Dropped here, by this green thread: the result was there when the
                    // wait unwound. That breaks the promise only if the child had finished
                    // clearly before the deadline; one finishing at the deadline races the
                    // expiry fairly.
                    let (dropped_on, finished_at) = ctx.shared.ledger.token(id);
                    let early = finished_at
                        .and_then(|at| deadline.checked_duration_since(at))
                        .filter(|ahead| *ahead > JOIN_RACE_MARGIN);
                    if let (Some(ahead), true) = (early, dropped_on == Some(me)) {
                        ctx.violation(
                            Broken::JoinResultDiscarded,
                            format!(
                                "timeout({d:?}, || child.join()) returned Elapsed and dropped \
                                 the result of a child that had finished {ahead:?} before the \
                                 deadline"
                            ),
                        );
                    }
                }
            }
        } else {
            ctx.doing("JoinHandle::join", None);
            ctx.joined_token(child.join());
        }
        ctx.pause();
    }
}

pub(crate) fn plan_joiners(crew: &mut Crew) {
    for j in 0..crew.rng.usize(1..=3) {
        let (place, cancellable, rounds) = (crew.hub(), crew.percent(30), crew.rng.usize(50..=500));
        crew.start(
            Role::workload(format!("joiner {j}"), place, cancellable),
            move |ctx| joiner(ctx, rounds),
        );
    }
}
