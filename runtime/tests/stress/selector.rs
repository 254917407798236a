//! Selectors: workers that send and receive through one `Select` with mixed arms over a random
//! subset of the seed's channels, and settle every send attempt by which arm fired.

use crate::channels::Fired;
use crate::ledger::{Attempt, ChannelInfo, Fate, Kind, Msg};
use crate::worker::{Ctx, Order};
use greenhub::sync::{Receiver, RecvError, Select, SendError, Sender};

/// A worker that both sends and receives through `Select`s with mixed arms.
pub(crate) struct SelectorPlan {
    pub(crate) receivers: Vec<(ChannelInfo, Receiver<Msg>)>,
    pub(crate) senders: Vec<(ChannelInfo, Sender<Msg>)>,
    pub(crate) rounds: usize,
}

enum Arm {
    Recv(usize),
    Send,
}

/// Builds and waits one `Select` over a random subset of the plan's channels. Returns what fired
/// (`None`: its timeout scope expired), the arms and the send attempts by arm.
fn select_round(
    ctx: &mut Ctx,
    plan: &SelectorPlan,
) -> (Option<Fired>, Vec<Arm>, Vec<(usize, Attempt)>) {
    let untimed_rendezvous_ok = ctx.shared.config.runs("select-send-rendezvous");
    let mut select = Select::new();
    let mut arms = Vec::new();
    let mut attempts = Vec::new();
    for (i, (_, rx)) in plan.receivers.iter().enumerate() {
        if ctx.chance(60) {
            let arm = arms.len();
            arms.push(Arm::Recv(i));
            select = select.recv(rx, move |got| Fired::Received { arm, got });
        }
    }
    // Waiting without a timeout is safe only with an arm that someone else will make ready:
    // a send to a drained channel, whose protected receiver keeps receiving.
    let mut progress = false;
    for (info, tx) in &plan.senders {
        if ctx.chance(60) {
            let mut msg = ctx.new_message(*info);
            let attempt = ctx.attempt(&mut msg, "Select send arm (mixed)", info.drained);
            let arm = arms.len();
            arms.push(Arm::Send);
            attempts.push((arm, attempt));
            select = select.send(tx, msg, move |r: Result<(), SendError<Msg>>| Fired::Sent {
                arm,
                back: r.err().map(|SendError(m)| m),
            });
            progress |= info.drained && (info.kind != Kind::Rendezvous || untimed_rendezvous_ok);
        }
    }
    let select = match ctx.rng.u8(0..3) {
        0 if progress => select,
        0 | 1 => {
            let d = ctx.short();
            select.timeout(d, || Fired::TimedOut)
        }
        _ => select.default(|| Fired::Default),
    };
    ctx.doing("Select::wait (mixed send and receive arms)", None);
    let fired = if ctx.chance(20) {
        ctx.scoped(move || select.wait())
    } else {
        Some(select.wait())
    };
    (fired, arms, attempts)
}

pub(crate) fn selector(mut ctx: Ctx, mut plan: SelectorPlan) {
    let mut order = Order::new();
    for _ in 0..plan.rounds {
        if !ctx.busy() {
            break;
        }
        let (fired, arms, attempts) = select_round(&mut ctx, &plan);
        let Some(fired) = fired else {
            // The scope expired inside the wait: the unsent values died with the Select, and
            // each attempt records itself as cut short when dropped here.
            drop(attempts);
            ctx.pause();
            continue;
        };
        let mut sent = None;
        let mut closed = None;
        match fired {
            Fired::Sent { arm, back } => sent = Some((arm, back.is_some())),
            Fired::Received { arm, got } => {
                let Arm::Recv(i) = arms[arm] else {
                    unreachable!("a receive arm fired")
                };
                match got {
                    Ok(msg) => ctx.receive(msg, plan.receivers[i].0, &mut order),
                    Err(RecvError) => closed = Some(i),
                }
            }
            Fired::TimedOut => ctx.timed_out(),
            Fired::Default => {}
        }
        for (arm, attempt) in attempts {
            let fate = match sent {
                Some((fired, false)) if fired == arm => Fate::Sent,
                Some((fired, true)) if fired == arm => Fate::Returned,
                _ => Fate::NotChosen,
            };
            attempt.settle(fate);
        }
        if let Some(i) = closed {
            plan.receivers.remove(i);
        }
        ctx.pause();
    }
}
