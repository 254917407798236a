//! `Event` and `WaitGroup` waiters: steady ones that must return, flaky ones under short
//! timeouts and cancels, and checks that no wait returns before its condition holds.

use crate::broken::Broken;
use crate::crew::{Crew, Role};
use crate::micros;
use crate::worker::Ctx;
use greenhub::sync::{Event, WaitGroup};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Instant;

fn event_setter(mut ctx: Ctx, event: Arc<Event>) {
    let at = ctx.sometime();
    ctx.doing("sleep until it is time to set the Event", None);
    ctx.park_point("sleep_until", || greenhub::sleep_until(at));
    ctx.doing("Event::set", None);
    event.set();
}

#[derive(Clone, Copy)]
enum EventStyle {
    Steady,
    Late,
    Flaky,
}

fn event_waiter(mut ctx: Ctx, event: Arc<Event>, style: EventStyle) {
    let check = |ctx: &Ctx, how: &str| {
        if !event.is_set() {
            ctx.violation(Broken::EventNotSet, format!("{how} returned, event clear"));
        }
    };
    match style {
        EventStyle::Steady | EventStyle::Late => {
            if let EventStyle::Late = style {
                let nap = micros(ctx.rng.u64(0..5000));
                ctx.park_point("sleep", || greenhub::sleep(nap));
            }
            ctx.doing("Event::wait", None);
            event.wait();
            check(&ctx, "Event::wait");
        }
        EventStyle::Flaky => {
            for _ in 0..ctx.rng.usize(1..=50) {
                if !ctx.busy() {
                    return;
                }
                if ctx.chance(50) {
                    let d = ctx.short();
                    ctx.doing("Event::wait_timeout", None);
                    if event.wait_timeout(d) {
                        check(&ctx, "Event::wait_timeout");
                        return;
                    }
                    ctx.timed_out();
                } else {
                    ctx.doing("Event::wait in a timeout scope", None);
                    if ctx.scoped(|| event.wait()).is_some() {
                        check(&ctx, "Event::wait in a timeout scope");
                        return;
                    }
                }
                ctx.pause();
            }
        }
    }
}

pub(crate) fn plan_event(crew: &mut Crew) -> Option<Arc<Event>> {
    if !crew.shared.config.runs("event") {
        return None;
    }
    let event = Arc::new(Event::new());
    let styles = [
        (EventStyle::Steady, 1..=2),
        (EventStyle::Late, 0..=1),
        (EventStyle::Flaky, 1..=2),
    ];
    for (style, count) in styles {
        for i in 0..crew.rng.usize(count) {
            let (event, place) = (event.clone(), crew.place(true));
            let cancellable = matches!(style, EventStyle::Flaky) && crew.percent(50);
            let name = match style {
                EventStyle::Steady => format!("event waiter {i}"),
                EventStyle::Late => format!("late event waiter {i}"),
                EventStyle::Flaky => format!("flaky event waiter {i}"),
            };
            crew.start(Role::workload(name, place, cancellable), move |ctx| {
                event_waiter(ctx, event, style)
            });
        }
    }
    let (setter_event, place) = (event.clone(), crew.place(true));
    crew.start(
        Role::workload("event setter".into(), place, false),
        move |ctx| event_setter(ctx, setter_event),
    );
    Some(event)
}

/// Counts a finished member when dropped.
struct Done(Arc<AtomicUsize>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A member's group handle with its done-count. Fields drop in order, so the member is counted
/// before the group hears of it, also when the member is cancelled before it ever runs.
struct Member {
    _done: Done,
    _group: WaitGroup,
}

fn waitgroup_member(mut ctx: Ctx, _member: Member) {
    let leave = ctx.sometime();
    while Instant::now() < leave {
        ctx.doing("pausing (a WaitGroup member)", None);
        ctx.pause();
    }
}

fn waitgroup_waiter(
    mut ctx: Ctx,
    group: WaitGroup,
    done: Arc<AtomicUsize>,
    members: usize,
    steady: bool,
) {
    let check = |ctx: &Ctx, how: &str| {
        let finished = done.load(SeqCst);
        if finished != members {
            ctx.violation(
                Broken::WaitGroupEarly,
                format!("{how} returned with {finished} of {members} members done"),
            );
        }
    };
    if steady {
        ctx.doing("WaitGroup::wait", None);
        group.wait();
        check(&ctx, "WaitGroup::wait");
    } else if ctx.chance(50) {
        let d = ctx.short();
        ctx.doing("WaitGroup::wait_timeout", None);
        if group.wait_timeout(d) {
            check(&ctx, "WaitGroup::wait_timeout");
        } else {
            ctx.timed_out();
        }
    } else {
        ctx.doing("WaitGroup::wait in a timeout scope", None);
        if ctx.scoped(move || group.wait()).is_some() {
            check(&ctx, "WaitGroup::wait in a timeout scope");
        }
    }
}

pub(crate) fn plan_waitgroup(crew: &mut Crew) {
    if !crew.shared.config.runs("waitgroup") {
        return;
    }
    let group = WaitGroup::new();
    let done = Arc::new(AtomicUsize::new(0));
    let members = crew.rng.usize(2..=5);
    for m in 0..members {
        let member = Member {
            _done: Done(done.clone()),
            _group: group.clone(),
        };
        let (place, cancellable) = (crew.place(true), crew.percent(50));
        let role = Role::workload(format!("waitgroup member {m}"), place, cancellable);
        crew.start(role, move |ctx| waitgroup_member(ctx, member));
    }
    for (steady, count) in [(true, 1..=2), (false, 0..=2)] {
        for w in 0..crew.rng.usize(count) {
            let (group, done) = (group.clone(), done.clone());
            let place = crew.place(steady);
            let cancellable = !steady && crew.percent(50);
            let name = if steady {
                format!("waitgroup waiter {w}")
            } else {
                format!("flaky waitgroup waiter {w}")
            };
            crew.start(Role::workload(name, place, cancellable), move |ctx| {
                waitgroup_waiter(ctx, group, done, members, steady)
            });
        }
    }
    // The main green thread's own count goes now, or no waiter could ever return.
    drop(group);
}
