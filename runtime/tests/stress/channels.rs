//! Channel workers: producers and consumers that use every send and receive method (and
//! one-arm `Select`s), and [`plan_channels`], which builds a seed's channels and starts their
//! workers, the mixed selectors of `selector.rs` included.

use crate::broken::Broken;
use crate::crew::{Crew, Role};
use crate::ledger::{ChannelInfo, Fate, Kind, Msg};
use crate::selector::{selector, SelectorPlan};
use crate::worker::{Ctx, Order};
use greenhub::sync::{
    Receiver, RecvError, RecvTimeoutError, Select, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};

/// How a single send ended, from the producer's side.
enum SendOutcome {
    /// Delivered, dropped inside a `Select`, or cut short: the producer no longer has it.
    Gone,
    /// Handed back; `retry` when sending it again later makes sense.
    Back { msg: Msg, retry: bool },
}

/// What a `Select` in this suite returns: which arm fired and with what.
pub(crate) enum Fired {
    Sent {
        arm: usize,
        back: Option<Msg>,
    },
    Received {
        arm: usize,
        got: Result<Msg, RecvError>,
    },
    TimedOut,
    Default,
}

/// Sends `msg` once, with a method picked at random, and records the outcome on the ledger.
fn send_once(ctx: &mut Ctx, info: ChannelInfo, tx: &Sender<Msg>, mut msg: Msg) -> SendOutcome {
    let on = Some(info.index);
    // A blocking rendezvous send returns Ok only once a receiver has the value.
    let blocking_strict = info.drained || info.kind == Kind::Rendezvous;
    match ctx.rng.u8(0..8) {
        0 => {
            let attempt = ctx.attempt(&mut msg, "send", blocking_strict);
            ctx.doing("Sender::send", on);
            match tx.send(msg) {
                Ok(()) => attempt.settle(Fate::Sent),
                Err(SendError(msg)) => {
                    attempt.settle(Fate::Returned);
                    return SendOutcome::Back { msg, retry: false };
                }
            }
        }
        1 | 4 => {
            let d = ctx.short();
            let scoped = ctx.rng.u8(0..2) == 0;
            let how = if scoped {
                "send_timeout in a timeout scope"
            } else {
                "send_timeout"
            };
            let attempt = ctx.attempt(&mut msg, how, blocking_strict);
            ctx.doing(how, on);
            let outcome = if scoped {
                ctx.scoped(move || tx.send_timeout(msg, d))
            } else {
                Some(tx.send_timeout(msg, d))
            };
            match outcome {
                None => attempt.settle(Fate::CutShort),
                Some(Ok(())) => attempt.settle(Fate::Sent),
                Some(Err(SendTimeoutError::Timeout(msg))) => {
                    ctx.timed_out();
                    attempt.settle(Fate::Returned);
                    return SendOutcome::Back { msg, retry: true };
                }
                Some(Err(SendTimeoutError::Disconnected(msg))) => {
                    attempt.settle(Fate::Returned);
                    return SendOutcome::Back { msg, retry: false };
                }
            }
        }
        2 => {
            let attempt = ctx.attempt(&mut msg, "try_send", info.drained);
            ctx.doing("Sender::try_send", on);
            match tx.try_send(msg) {
                Ok(()) => attempt.settle(Fate::Sent),
                Err(TrySendError::Full(msg)) => {
                    attempt.settle(Fate::Returned);
                    return SendOutcome::Back { msg, retry: true };
                }
                Err(TrySendError::Disconnected(msg)) => {
                    attempt.settle(Fate::Returned);
                    return SendOutcome::Back { msg, retry: false };
                }
            }
        }
        3 => {
            let attempt = ctx.attempt(&mut msg, "send in a timeout scope", blocking_strict);
            ctx.doing("Sender::send in a timeout scope", on);
            match ctx.scoped(move || tx.send(msg)) {
                None => attempt.settle(Fate::CutShort),
                Some(Ok(())) => attempt.settle(Fate::Sent),
                Some(Err(SendError(msg))) => {
                    attempt.settle(Fate::Returned);
                    return SendOutcome::Back { msg, retry: false };
                }
            }
        }
        _ => return select_send_once(ctx, info, tx, msg),
    }
    SendOutcome::Gone
}

/// Sends through a one-arm `Select`, with a timeout arm, a default arm, or neither.
fn select_send_once(
    ctx: &mut Ctx,
    info: ChannelInfo,
    tx: &Sender<Msg>,
    mut msg: Msg,
) -> SendOutcome {
    let attempt = ctx.attempt(&mut msg, "Select send arm", info.drained);
    let select = Select::new().send(tx, msg, |r: Result<(), SendError<Msg>>| Fired::Sent {
        arm: 0,
        back: r.err().map(|SendError(m)| m),
    });
    // Without a timeout, a rendezvous send arm relies on a receiver arriving later.
    let untimed_ok =
        info.kind != Kind::Rendezvous || ctx.shared.config.runs("select-send-rendezvous");
    let select = match ctx.rng.u8(0..3) {
        0 if untimed_ok => select,
        0 | 1 => {
            let d = ctx.short();
            select.timeout(d, || Fired::TimedOut)
        }
        _ => select.default(|| Fired::Default),
    };
    ctx.doing("Select::wait (one send arm)", Some(info.index));
    let fired = if ctx.chance(20) {
        ctx.scoped(move || select.wait())
    } else {
        Some(select.wait())
    };
    match fired {
        None => attempt.settle(Fate::CutShort),
        Some(Fired::Sent { back: None, .. }) => attempt.settle(Fate::Sent),
        Some(Fired::Sent {
            back: Some(msg), ..
        }) => {
            attempt.settle(Fate::Returned);
            return SendOutcome::Back { msg, retry: false };
        }
        Some(Fired::TimedOut) => {
            ctx.timed_out();
            attempt.settle(Fate::NotChosen);
        }
        Some(Fired::Default | Fired::Received { .. }) => attempt.settle(Fate::NotChosen),
    }
    SendOutcome::Gone
}

pub(crate) fn producer(mut ctx: Ctx, info: ChannelInfo, tx: Sender<Msg>, count: usize) {
    for _ in 0..count {
        if !ctx.busy() {
            break;
        }
        let mut msg = ctx.new_message(info);
        for tries in 1.. {
            match send_once(&mut ctx, info, &tx, msg) {
                SendOutcome::Gone => break,
                SendOutcome::Back { msg: back, retry } => {
                    // A returned value may be sent again: it must still arrive exactly once.
                    if !retry || tries >= 3 || ctx.chance(50) {
                        break;
                    }
                    msg = back;
                    ctx.pause();
                }
            }
        }
        if let Kind::Bounded(capacity) = info.kind {
            let held = tx.len();
            if held > capacity {
                ctx.violation(Broken::CapacityExceeded, format!("{info} held {held}"));
            }
        }
        ctx.pause();
    }
}

/// One receiving end of a consumer, with how many more messages it takes before leaving.
pub(crate) struct Inbox {
    pub(crate) info: ChannelInfo,
    pub(crate) rx: Receiver<Msg>,
    pub(crate) quota: Option<usize>,
}

enum Got {
    Msg(Msg),
    Disconnected,
    Nothing,
}

fn got(received: Result<Msg, RecvError>) -> Got {
    received.map_or(Got::Disconnected, Got::Msg)
}

/// Receives once from `inbox`, with a method picked at random.
fn recv_once(ctx: &mut Ctx, inbox: &Inbox) -> Got {
    let on = Some(inbox.info.index);
    let rx = &inbox.rx;
    match ctx.rng.u8(0..7) {
        0 => {
            ctx.doing("Receiver::recv", on);
            got(rx.recv())
        }
        1 | 2 => {
            let d = ctx.short();
            let scoped = ctx.rng.u8(0..3) == 0;
            ctx.doing("Receiver::recv_timeout", on);
            let outcome = if scoped {
                ctx.scoped(|| rx.recv_timeout(d))
            } else {
                Some(rx.recv_timeout(d))
            };
            match outcome {
                None => Got::Nothing,
                Some(Ok(msg)) => Got::Msg(msg),
                Some(Err(RecvTimeoutError::Timeout)) => {
                    ctx.timed_out();
                    Got::Nothing
                }
                Some(Err(RecvTimeoutError::Disconnected)) => Got::Disconnected,
            }
        }
        3 => {
            ctx.doing("Receiver::try_recv", on);
            match rx.try_recv() {
                Ok(msg) => Got::Msg(msg),
                Err(TryRecvError::Disconnected) => Got::Disconnected,
                Err(TryRecvError::Empty) => {
                    ctx.park_point("yield_now", greenhub::yield_now);
                    Got::Nothing
                }
            }
        }
        4 => {
            ctx.doing("Receiver::recv in a timeout scope", on);
            ctx.scoped(|| rx.recv()).map_or(Got::Nothing, got)
        }
        5 => {
            ctx.doing("Receiver::iter().next()", on);
            rx.iter().next().map_or(Got::Disconnected, Got::Msg)
        }
        _ => recv_any(ctx, std::slice::from_ref(inbox)).1,
    }
}

/// Receives through a `Select` with one receive arm per inbox; returns which inbox.
fn recv_any(ctx: &mut Ctx, inboxes: &[Inbox]) -> (usize, Got) {
    let mut select = Select::new();
    for (arm, inbox) in inboxes.iter().enumerate() {
        select = select.recv(&inbox.rx, move |got| Fired::Received { arm, got });
    }
    let select = match ctx.rng.u8(0..3) {
        0 => select,
        1 => {
            let d = ctx.short();
            select.timeout(d, || Fired::TimedOut)
        }
        _ => select.default(|| Fired::Default),
    };
    ctx.doing("Select::wait (receive arms)", None);
    let fired = if ctx.chance(20) {
        ctx.scoped(move || select.wait())
    } else {
        Some(select.wait())
    };
    match fired {
        Some(Fired::Received { arm, got: received }) => (arm, got(received)),
        Some(Fired::TimedOut) => {
            ctx.timed_out();
            (0, Got::Nothing)
        }
        _ => (0, Got::Nothing),
    }
}

/// Receives until every inbox is disconnected or has met its quota.
pub(crate) fn consumer(mut ctx: Ctx, mut inboxes: Vec<Inbox>) {
    let mut order = Order::new();
    inboxes.retain(|inbox| inbox.quota != Some(0));
    while !inboxes.is_empty() {
        let (i, got) = if ctx.chance(if inboxes.len() > 1 { 30 } else { 8 }) {
            recv_any(&mut ctx, &inboxes)
        } else {
            let i = ctx.rng.usize(0..inboxes.len());
            (i, recv_once(&mut ctx, &inboxes[i]))
        };
        match got {
            Got::Msg(msg) => {
                ctx.receive(msg, inboxes[i].info, &mut order);
                if let Some(quota) = &mut inboxes[i].quota {
                    *quota -= 1;
                    if *quota == 0 {
                        inboxes.swap_remove(i);
                    }
                }
            }
            Got::Disconnected => {
                inboxes.swap_remove(i);
            }
            Got::Nothing => {}
        }
        ctx.pause();
    }
}

pub(crate) fn plan_channels(crew: &mut Crew) {
    let rendezvous = crew.shared.config.runs("rendezvous");
    let mut ends = Vec::new();
    for index in 0..crew.rng.usize(3..=5) {
        let kind = Kind::random(&mut crew.rng, rendezvous);
        let drained = index == 0 || crew.percent(70);
        let info = ChannelInfo {
            index,
            kind,
            drained,
        };
        let (tx, rx) = kind.channel::<Msg>();
        let mut total = 0;
        for p in 0..crew.rng.usize(1..=3) {
            let count = crew.rng.usize(100..=2000);
            total += count;
            let place = crew.place(true);
            let cancellable = crew.percent(50);
            let tx = tx.clone();
            let role = Role::workload(format!("producer {p} of {info}"), place, cancellable);
            crew.start(role, move |ctx| producer(ctx, info, tx, count));
        }
        if drained {
            let place = crew.place(true);
            let inbox = Inbox {
                info,
                rx: rx.clone(),
                quota: None,
            };
            let role = Role::workload(format!("protected consumer of {info}"), place, false);
            crew.start(role, move |ctx| consumer(ctx, vec![inbox]));
        }
        let extra = if drained { 0..=2 } else { 1..=2 };
        for c in 0..crew.rng.usize(extra) {
            let quota = (!drained).then(|| crew.rng.usize(0..=total / 2));
            let place = crew.place(false);
            let cancellable = crew.percent(65);
            let inbox = Inbox {
                info,
                rx: rx.clone(),
                quota,
            };
            let role = Role::workload(format!("consumer {c} of {info}"), place, cancellable);
            crew.start(role, move |ctx| consumer(ctx, vec![inbox]));
        }
        ends.push((info, tx, rx));
    }
    for s in 0..crew.rng.usize(1..=3) {
        let mut picks: Vec<usize> = (0..ends.len()).collect();
        crew.rng.shuffle(&mut picks);
        let receivers = picks[..crew.rng.usize(1..=2)]
            .iter()
            .map(|&i| (ends[i].0, ends[i].2.clone()))
            .collect();
        crew.rng.shuffle(&mut picks);
        let mut chosen: Vec<usize> = picks[..crew.rng.usize(1..=2)].to_vec();
        if !chosen.contains(&0) && crew.percent(70) {
            chosen.push(0); // channel 0 is always drained: an arm that guarantees progress
        }
        let senders = chosen
            .iter()
            .map(|&i| (ends[i].0, ends[i].1.clone()))
            .collect();
        let plan = SelectorPlan {
            receivers,
            senders,
            rounds: crew.rng.usize(100..=2000),
        };
        let place = crew.place(true);
        let cancellable = crew.percent(30);
        let role = Role::workload(format!("selector {s}"), place, cancellable);
        crew.start(role, move |ctx| selector(ctx, plan));
    }
    // The main green thread keeps no end of a workload channel: receivers must see
    // disconnection once the workers' ends are gone.
}
