//! `Mutex` and `Semaphore` workers: every way to lock or acquire, held across parks, with the
//! holders counted to catch a broken exclusion.

use crate::broken::Broken;
use crate::crew::{Crew, Role};
use crate::shared::Occupancy;
use crate::worker::Ctx;
use greenhub::sync::{Mutex, Semaphore};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

pub(crate) struct MutexCase {
    pub(crate) mutex: Mutex<u64>,
    inside: AtomicUsize,
    pub(crate) completed: AtomicU64,
}

/// Tries `attempt` a few times with yields in between.
fn try_a_few<T>(ctx: &mut Ctx, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..4 {
        if let Some(value) = attempt() {
            return Some(value);
        }
        ctx.park_point("yield_now", greenhub::yield_now);
    }
    None
}

fn mutex_worker(mut ctx: Ctx, case: Arc<MutexCase>, rounds: usize) {
    for _ in 0..rounds {
        if !ctx.busy() {
            break;
        }
        let guard = match ctx.rng.u8(0..4) {
            0 => {
                ctx.doing("Mutex::lock", None);
                Some(case.mutex.lock())
            }
            1 => {
                ctx.doing("Mutex::try_lock", None);
                try_a_few(&mut ctx, || case.mutex.try_lock())
            }
            2 => {
                let d = ctx.short();
                ctx.doing("Mutex::lock_timeout", None);
                let guard = case.mutex.lock_timeout(d);
                if guard.is_none() {
                    ctx.timed_out();
                }
                guard
            }
            _ => {
                ctx.doing("Mutex::lock in a timeout scope", None);
                ctx.scoped(|| case.mutex.lock())
            }
        };
        if let Some(mut guard) = guard {
            let inside = Occupancy::enter(&case.inside, 1, Broken::MutualExclusion, |d| {
                ctx.violation(Broken::MutualExclusion, format!("inside the Mutex: {d}"))
            });
            let before = *guard;
            if ctx.chance(50) {
                ctx.pause(); // held across a park: everyone else must keep waiting
            }
            *guard = before + 1;
            case.completed.fetch_add(1, SeqCst);
            drop(inside);
            drop(guard);
        }
        ctx.pause();
    }
}

pub(crate) fn plan_mutex(crew: &mut Crew) -> Option<Arc<MutexCase>> {
    if !crew.shared.config.runs("mutex") {
        return None;
    }
    let case = Arc::new(MutexCase {
        mutex: Mutex::new(0),
        inside: AtomicUsize::new(0),
        completed: AtomicU64::new(0),
    });
    for w in 0..crew.rng.usize(2..=5) {
        let (place, cancellable, rounds) = (
            crew.place(true),
            crew.percent(40),
            crew.rng.usize(100..=2000),
        );
        let case = case.clone();
        let role = Role::workload(format!("mutex worker {w}"), place, cancellable);
        crew.start(role, move |ctx| mutex_worker(ctx, case, rounds));
    }
    Some(case)
}

pub(crate) struct SemaphoreCase {
    pub(crate) semaphore: Semaphore,
    pub(crate) permits: usize,
    holders: AtomicUsize,
}

fn semaphore_worker(mut ctx: Ctx, case: Arc<SemaphoreCase>, rounds: usize) {
    let over = |ctx: &Ctx, d: String| ctx.violation(Broken::SemaphoreOverfull, d);
    for _ in 0..rounds {
        if !ctx.busy() {
            break;
        }
        let permit = match ctx.rng.u8(0..5) {
            0 => {
                ctx.doing("Semaphore::acquire", None);
                Some(case.semaphore.acquire())
            }
            1 => {
                ctx.doing("Semaphore::try_acquire", None);
                try_a_few(&mut ctx, || case.semaphore.try_acquire())
            }
            2 => {
                let d = ctx.short();
                ctx.doing("Semaphore::acquire_timeout", None);
                let permit = case.semaphore.acquire_timeout(d);
                if permit.is_none() {
                    ctx.timed_out();
                }
                permit
            }
            3 => {
                ctx.doing("Semaphore::acquire in a timeout scope", None);
                ctx.scoped(|| case.semaphore.acquire())
            }
            _ => {
                // A permit kept by hand and given back with `release`, no park in between.
                ctx.doing("Semaphore::acquire, forget, release", None);
                std::mem::forget(case.semaphore.acquire());
                let held = Occupancy::enter(
                    &case.holders,
                    case.permits,
                    Broken::SemaphoreOverfull,
                    |d| over(&ctx, d),
                );
                drop(held);
                case.semaphore.release();
                None
            }
        };
        if let Some(permit) = permit {
            let held = Occupancy::enter(
                &case.holders,
                case.permits,
                Broken::SemaphoreOverfull,
                |d| over(&ctx, d),
            );
            if ctx.chance(50) {
                ctx.pause();
            }
            drop(held);
            drop(permit);
        }
        ctx.pause();
    }
}

pub(crate) fn plan_semaphore(crew: &mut Crew) -> Option<Arc<SemaphoreCase>> {
    if !crew.shared.config.runs("semaphore") {
        return None;
    }
    let permits = crew.rng.usize(1..=3);
    let case = Arc::new(SemaphoreCase {
        semaphore: Semaphore::new(permits),
        permits,
        holders: AtomicUsize::new(0),
    });
    for w in 0..crew.rng.usize(2..=5) {
        let (place, cancellable, rounds) = (
            crew.place(true),
            crew.percent(40),
            crew.rng.usize(100..=2000),
        );
        let case = case.clone();
        let role = Role::workload(
            format!("semaphore worker {w} ({permits} permits)"),
            place,
            cancellable,
        );
        crew.start(role, move |ctx| semaphore_worker(ctx, case, rounds));
    }
    Some(case)
}
