//! The main green thread of a seed: it starts every scenario and the driver that cancels
//! workers, waits for the workload under a deadline, then hands over to the checks and the idle
//! phase.

use crate::bounce::plan_bounce;
use crate::broken::lock;
use crate::channels::plan_channels;
use crate::checks::{check_primitives, join_green, join_os, report_hang, wait_finished, Cases};
use crate::condvar::plan_condvar;
use crate::crew::{Crew, OsTracked, Tracked};
use crate::idle::idle_phase;
use crate::locks::{plan_mutex, plan_semaphore};
use crate::pool::{plan_joiners, plan_pool};
use crate::shared::{Live, Shared};
use crate::waits::{plan_event, plan_waitgroup};
use crate::WORKLOAD_DEADLINE;
use fastrand::Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Instant;

/// Cancels random cancellable workers at random moments, spread over the workload, until its
/// budget is spent or no cancellable worker is left.
fn drive(workers: Rc<RefCell<Vec<Tracked>>>, shared: Arc<Shared>, mut rng: Rng) {
    if !shared.config.runs("cancel") {
        return;
    }
    let budget = rng.usize(20..=80) as u32;
    let spacing = shared
        .workload_end
        .saturating_duration_since(Instant::now())
        / budget;
    for _ in 0..budget {
        match rng.u8(0..4) {
            0 => greenhub::yield_now(),
            _ => greenhub::sleep(spacing.mul_f64(2.0 * rng.f64())),
        }
        let workers = workers.borrow();
        let candidates: Vec<&Tracked> = workers
            .iter()
            .filter(|w| w.cancellable && !w.handle.is_finished())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let target = candidates[rng.usize(0..candidates.len())];
        target.handle.cancel();
        // Only after cancel(): a worker that sees the flag must also see the cancellation.
        target.cancel_seen.store(true, SeqCst);
        shared.stats.cancels.fetch_add(1, SeqCst);
    }
}

pub(crate) fn main_green_thread(shared: Arc<Shared>) -> Vec<OsTracked> {
    let mut crew = Crew::new(shared.clone());
    let main_slot = shared.add_slot("main green thread".into());
    let main = crew.ctx(main_slot);
    main.doing("whatever the phase says", None);
    shared.set_phase("starting the workload");
    plan_channels(&mut crew);
    let mut cases = Cases {
        bounce: plan_bounce(&mut crew),
        mutex: plan_mutex(&mut crew),
        semaphore: plan_semaphore(&mut crew),
        condvar: plan_condvar(&mut crew),
        event: plan_event(&mut crew),
        pool: plan_pool(&mut crew),
    };
    plan_waitgroup(&mut crew);
    plan_joiners(&mut crew);
    let driver_slot = shared.add_slot("driver (cancels workers)".into());
    let driver = Tracked {
        slot: driver_slot,
        handle: greenhub::spawn({
            let (workers, shared, rng) = (
                crew.workload.clone(),
                shared.clone(),
                Rng::with_seed(crew.rng.u64(..)),
            );
            let live = Live {
                shared: shared.clone(),
                slot: driver_slot,
                returned: false,
            };
            move || {
                let mut live = live; // the whole guard, not just the field it sets
                lock(&shared.activity)[driver_slot].doing = "cancelling workers";
                drive(workers, shared, rng);
                live.returned = true;
            }
        }),
        cancellable: false,
        cancel_seen: Arc::default(),
    };

    shared.set_phase("workload");
    let stuck = {
        let workload = crew.workload.borrow();
        let all: Vec<&Tracked> = workload.iter().chain([&driver]).collect();
        wait_finished(&all, &crew.os_workload, Instant::now() + WORKLOAD_DEADLINE)
    };
    if !stuck.is_empty() {
        report_hang(&shared, "at the end of the workload", &stuck, &cases);
        let mut leftovers = std::mem::take(&mut crew.os_workload);
        leftovers.append(&mut crew.os_late);
        return leftovers;
    }
    let workload = crew.workload.take();
    join_green(&shared, workload);
    join_green(&shared, vec![driver]);
    join_os(&shared, std::mem::take(&mut crew.os_workload));

    shared.set_phase("checking conservation");
    check_primitives(&shared, &cases);
    idle_phase(&mut crew, &mut cases, &main);
    std::mem::take(&mut crew.os_late)
}
