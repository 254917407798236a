//! The idle phase: a waiter parked on every primitive while the process's CPU time is
//! measured, then everyone released and joined.

use crate::broken::{lock, Broken};
use crate::checks::{join_green, join_os, report_hang, wait_finished, Cases};
use crate::crew::{Crew, Place, Role, Tracked};
use crate::pool::PoolCase;
use crate::shared::Shared;
use crate::worker::{Ctx, Order};
use crate::{HUBS, IDLE_CPU_LIMIT, IDLE_SETTLE, IDLE_WINDOW, JOIN_DEADLINE};
use greenhub::sync::{Event, WaitGroup};
use greenhub::{sync, JoinHandle};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fills the pool with `size` tasks that wait for `gate`; each spawn must find a slot at once.
fn fill_pool(shared: &Shared, case: &PoolCase, gate: &Arc<Event>) -> (bool, Vec<JoinHandle<()>>) {
    let mut spawned = Vec::new();
    let filled = greenhub::timeout(Duration::from_secs(2), || {
        for _ in 0..case.size {
            let gate = gate.clone();
            spawned.push(case.pool.spawn(move || gate.wait()));
        }
    });
    if filled.is_err() {
        shared.violation(
            Broken::PoolSlotsLeaked,
            format!(
                "with nothing running, a pool of {} took only {} new spawn(s) in 2 s: {} slot(s) \
                 leaked",
                case.size,
                spawned.len(),
                case.size - spawned.len()
            ),
        );
    }
    (filled.is_ok(), spawned)
}

fn process_cpu_time() -> Duration {
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; getrusage keeps no pointer to it.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Parks a waiter on every primitive (the Selects sharing channels are already parked), then
/// measures the process's CPU time while everything waits; then releases everyone and joins.
pub(crate) fn idle_phase(crew: &mut Crew, cases: &mut Cases, main: &Ctx) {
    let shared = crew.shared.clone();
    let release = Arc::new(Event::new());
    let held_lock = cases.mutex.as_ref().map(|case| case.mutex.lock());
    if let Some(case) = &cases.mutex {
        let (case, place) = (case.clone(), crew.place(false));
        crew.start(Role::idle("idle: Mutex::lock".into(), place), move |ctx| {
            ctx.doing("Mutex::lock", None);
            drop(case.mutex.lock());
        });
    }
    let held_permits: Vec<_> = cases
        .semaphore
        .iter()
        .flat_map(|case| (0..case.permits).filter_map(|_| case.semaphore.try_acquire()))
        .collect();
    if let Some(case) = &cases.semaphore {
        let (case, place) = (case.clone(), crew.hub());
        crew.start(
            Role::idle("idle: Semaphore::acquire".into(), place),
            move |ctx| {
                ctx.doing("Semaphore::acquire", None);
                drop(case.semaphore.acquire());
            },
        );
    }
    if let Some(case) = &cases.condvar {
        let (case, place) = (case.clone(), crew.hub());
        crew.start(
            Role::idle("idle: Condvar::wait".into(), place),
            move |ctx| {
                ctx.doing("Condvar::wait", None);
                let mut tickets = case.state.lock();
                while !tickets.released {
                    tickets = case.condvar.wait(tickets);
                }
            },
        );
    }
    let (event, place) = (release.clone(), crew.hub());
    crew.start(Role::idle("idle: Event::wait".into(), place), move |ctx| {
        ctx.doing("Event::wait", None);
        event.wait();
    });
    let group = WaitGroup::new();
    let (member, place) = (group.clone(), crew.hub());
    crew.start(
        Role::idle("idle: WaitGroup::wait".into(), place),
        move |ctx| {
            ctx.doing("WaitGroup::wait", None);
            member.wait();
        },
    );
    let (idle_tx, idle_rx) = sync::channel::<()>();
    let place = if shared.config.runs("os-threads") {
        Place::Os
    } else {
        crew.hub()
    };
    crew.start(
        Role::idle("idle: Receiver::recv".into(), place),
        move |ctx| {
            ctx.doing("Receiver::recv", None);
            let _ = idle_rx.recv();
        },
    );
    let (sleeper_release, hub) = (release.clone(), crew.rng.usize(0..HUBS));
    let sleeper = greenhub::spawn_on(hub, move || sleeper_release.wait());
    let place = crew.hub();
    crew.start(
        Role::idle("idle: JoinHandle::join".into(), place),
        move |ctx| {
            ctx.doing("JoinHandle::join", None);
            let _ = sleeper.join();
        },
    );
    let gate = Arc::new(Event::new());
    let mut gate_tasks = Vec::new();
    if let Some(case) = &cases.pool {
        let (full, spawned) = fill_pool(&shared, case, &gate);
        gate_tasks = spawned;
        if full {
            let (case, place) = (case.clone(), crew.hub());
            crew.start(
                Role::idle("idle: Pool::spawn on a full pool".into(), place),
                move |ctx| {
                    ctx.doing("Pool::spawn (the pool is full)", None);
                    let _ = case.pool.spawn(|| ()).join();
                },
            );
        }
    }

    shared.set_phase("idle window");
    greenhub::sleep(IDLE_SETTLE);
    let before = process_cpu_time();
    greenhub::sleep(IDLE_WINDOW);
    let used = process_cpu_time().saturating_sub(before);
    *lock(&shared.idle_cpu) = Some(used);
    if used > IDLE_CPU_LIMIT && shared.config.runs("idle-cpu") {
        shared.violation(
            Broken::IdleCpu,
            format!(
                "{used:?} of CPU in {IDLE_WINDOW:?} while {} green thread(s) and {} OS \
                 thread(s) waited: two Selects receiving from channel 100, two sending to the \
                 full channel 101, one waiter on each primitive",
                crew.late.len(),
                crew.os_late.len()
            ),
        );
    }

    shared.set_phase("releasing the idle waiters");
    drop(held_lock);
    drop(held_permits);
    if let Some(case) = &cases.condvar {
        case.state.lock().released = true;
        case.condvar.notify_all();
    }
    release.set();
    drop(group);
    drop(idle_tx);
    gate.set();
    // The shared-Select receivers see their channel close, the senders their stop channel;
    // the full channel is drained once its senders are gone.
    let drain = cases.bounce.take().map(|bounce| {
        drop(bounce.receive_side_sender);
        drop(bounce.stop);
        (bounce.send_side, bounce.send_side_receiver)
    });
    let late = std::mem::take(&mut crew.late);
    let os_late = std::mem::take(&mut crew.os_late);
    let stuck = {
        let all: Vec<&Tracked> = late.iter().collect();
        wait_finished(&all, &os_late, Instant::now() + JOIN_DEADLINE)
    };
    let gate_stuck = gate_tasks.iter().filter(|h| !h.is_finished()).count();
    if !stuck.is_empty() || gate_stuck > 0 {
        let phase = format!("after the idle waiters were released ({gate_stuck} pool task(s) too)");
        report_hang(&shared, &phase, &stuck, cases);
        crew.os_late = os_late; // tried again once the runtime has ended
        return;
    }
    join_green(&shared, late);
    join_os(&shared, os_late);
    for task in gate_tasks {
        let _ = task.join();
    }
    if let Some((info, receiver)) = drain {
        let mut order = Order::new();
        for msg in receiver.try_iter() {
            main.receive(msg, info, &mut order);
        }
    }
}
