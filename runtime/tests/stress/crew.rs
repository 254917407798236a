//! Starting workers: [`Crew`] places each one on a hub or an OS thread and keeps its handle,
//! for the main green thread's joins and the driver's cancels.

use crate::shared::{Farewell, Live, Shared};
use crate::worker::Ctx;
use crate::HUBS;
use fastrand::Rng;
use greenhub::JoinHandle;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Hub(usize),
    Os,
}

/// When the main green thread joins a worker: after the workload, or after the idle window.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Workload,
    Idle,
}

pub(crate) struct Role {
    name: String,
    place: Place,
    cancellable: bool,
    until: Until,
}

impl Role {
    pub(crate) fn workload(name: String, place: Place, cancellable: bool) -> Role {
        Role {
            name,
            place,
            cancellable,
            until: Until::Workload,
        }
    }

    pub(crate) fn idle(name: String, place: Place) -> Role {
        Role {
            name,
            place,
            cancellable: false,
            until: Until::Idle,
        }
    }
}

pub(crate) struct Tracked {
    pub(crate) slot: usize,
    pub(crate) handle: JoinHandle<()>,
    pub(crate) cancellable: bool,
    pub(crate) cancel_seen: Arc<AtomicBool>,
}

pub(crate) struct OsTracked {
    pub(crate) slot: usize,
    pub(crate) handle: std::thread::JoinHandle<()>,
}

/// Everyone the main green thread started, and the seed's random stream for planning.
pub(crate) struct Crew {
    pub(crate) shared: Arc<Shared>,
    pub(crate) rng: Rng,
    /// Shared with the driver, which cancels from it.
    pub(crate) workload: Rc<RefCell<Vec<Tracked>>>,
    pub(crate) late: Vec<Tracked>,
    pub(crate) os_workload: Vec<OsTracked>,
    pub(crate) os_late: Vec<OsTracked>,
    os_budget: usize,
}

impl Crew {
    pub(crate) fn new(shared: Arc<Shared>) -> Crew {
        let mut rng = Rng::with_seed(shared.seed);
        let os_budget = if shared.config.runs("os-threads") {
            rng.usize(2..=4)
        } else {
            0
        };
        Crew {
            shared,
            rng,
            workload: Rc::default(),
            late: Vec::new(),
            os_workload: Vec::new(),
            os_late: Vec::new(),
            os_budget,
        }
    }

    pub(crate) fn ctx(&mut self, slot: usize) -> Ctx {
        Ctx {
            shared: self.shared.clone(),
            rng: Rng::with_seed(self.rng.u64(..)),
            slot,
            cancel_seen: Arc::default(),
            seq: 0,
        }
    }

    /// A hub at random, or now and then an OS thread while the seed's budget lasts.
    pub(crate) fn place(&mut self, os_ok: bool) -> Place {
        if os_ok && self.os_budget > 0 && self.rng.u8(0..4) == 0 {
            self.os_budget -= 1;
            return Place::Os;
        }
        Place::Hub(self.rng.usize(0..HUBS))
    }

    pub(crate) fn hub(&mut self) -> Place {
        Place::Hub(self.rng.usize(0..HUBS))
    }

    pub(crate) fn percent(&mut self, percent: u8) -> bool {
        self.rng.u8(0..100) < percent
    }

    pub(crate) fn start(&mut self, role: Role, body: impl FnOnce(Ctx) + Send + 'static) {
        let Role {
            name,
            place,
            cancellable,
            until,
        } = role;
        let cancellable = cancellable && place != Place::Os;
        let label = match place {
            Place::Hub(h) => format!("{name} [hub {h}]"),
            Place::Os => format!("{name} [OS thread]"),
        };
        let slot = self.shared.add_slot(label);
        let ctx = self.ctx(slot);
        let cancel_seen = ctx.cancel_seen.clone();
        let farewell_seed =
            (cancellable && self.shared.config.runs("farewell") && self.percent(40))
                .then(|| self.rng.u64(..));
        // Made here and moved in, so that a worker cancelled before it ever runs is marked too.
        let live = Live {
            shared: self.shared.clone(),
            slot,
            returned: false,
        };
        let run = move || run_worker(live, ctx, farewell_seed, body);
        match place {
            Place::Hub(hub) => {
                let tracked = Tracked {
                    slot,
                    handle: greenhub::spawn_on(hub, run),
                    cancellable,
                    cancel_seen,
                };
                match until {
                    Until::Workload => self.workload.borrow_mut().push(tracked),
                    Until::Idle => self.late.push(tracked),
                }
            }
            Place::Os => {
                let handle = std::thread::Builder::new()
                    .name(format!("stress-{slot}"))
                    .spawn(run)
                    .expect("the OS can start a thread");
                let tracked = OsTracked { slot, handle };
                match until {
                    Until::Workload => self.os_workload.push(tracked),
                    Until::Idle => self.os_late.push(tracked),
                }
            }
        }
    }
}

fn run_worker(mut live: Live, ctx: Ctx, farewell_seed: Option<u64>, body: impl FnOnce(Ctx)) {
    let mut farewell =
        farewell_seed.map(|seed| Farewell::random(ctx.shared.clone(), &mut Rng::with_seed(seed)));
    body(ctx);
    if let Some(farewell) = &mut farewell {
        farewell.armed = false;
    }
    live.returned = true;
}
