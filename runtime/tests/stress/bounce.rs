//! Two `Select`s sharing one channel, on each side of it, while thieves take the values and
//! places their wakes were for. They stay parked through the idle window, where a wake bouncing
//! between them would show up as burnt CPU.

use crate::channels::{consumer, producer, Fired, Inbox};
use crate::crew::{Crew, Place, Role};
use crate::ledger::{ChannelInfo, Fate, Kind, Msg};
use crate::worker::{Ctx, Order};
use crate::HUBS;
use greenhub::sync;
use greenhub::sync::{Receiver, RecvError, Select, SendError, Sender, TryRecvError, TrySendError};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

/// The ends the main green thread keeps of the shared-Select channels until the idle window
/// has been measured.
pub(crate) struct Bounce {
    pub(crate) receive_side_sender: Sender<Msg>,
    pub(crate) stop: Sender<()>,
    pub(crate) send_side: ChannelInfo,
    pub(crate) send_side_receiver: Receiver<Msg>,
}

/// Two Selects receiving from one channel while a thief steals the values their wakes were for,
/// and two Selects sending to one full channel while a thief fills every freed place. A wake
/// that each passes to the other would bounce between them forever and burn the idle window.
pub(crate) fn plan_bounce(crew: &mut Crew) -> Option<Bounce> {
    if !crew.shared.config.runs("bounce") {
        return None;
    }
    // The Selects share a hub (mostly) so that each re-registers before the other runs; the
    // thieves work from the other hub, where they win the race against a remote wake.
    let first = crew.rng.usize(0..HUBS);
    let second = if crew.percent(70) {
        first
    } else {
        (first + 1) % HUBS
    };
    let thieves = Place::Hub((first + 1) % HUBS);

    let receive_side = ChannelInfo {
        index: 100,
        kind: Kind::Unbounded,
        drained: true,
    };
    let (tx, rx) = sync::channel::<Msg>();
    for (i, hub) in [first, second].into_iter().enumerate() {
        let rx = rx.clone();
        let name = format!("select {i} receiving from {receive_side}");
        crew.start(Role::idle(name, Place::Hub(hub)), move |ctx| {
            select_receiver(ctx, receive_side, rx)
        });
    }
    let count = crew.rng.usize(300..=3000);
    let (sender, producing) = (tx.clone(), Arc::new(AtomicBool::new(true)));
    let still_producing = producing.clone();
    let name = format!("producer of {receive_side}");
    crew.start(Role::workload(name, thieves, false), move |ctx| {
        producer(ctx, receive_side, sender, count);
        producing.store(false, SeqCst);
    });
    let name = format!("thief receiving from {receive_side}");
    crew.start(Role::workload(name, thieves, false), move |ctx| {
        thief_receiver(ctx, receive_side, rx, still_producing)
    });

    let send_side = ChannelInfo {
        index: 101,
        kind: Kind::Bounded(1),
        drained: true,
    };
    let (z_tx, z_rx) = sync::bounded::<Msg>(1);
    let (stop, stop_rx) = sync::channel::<()>();
    for (i, hub) in [first, second].into_iter().enumerate() {
        let (tx, stop_rx) = (z_tx.clone(), stop_rx.clone());
        let name = format!("select {i} sending to {send_side}");
        crew.start(Role::idle(name, Place::Hub(hub)), move |ctx| {
            select_sender(ctx, send_side, tx, stop_rx)
        });
    }
    let inbox = Inbox {
        info: send_side,
        rx: z_rx.clone(),
        quota: Some(crew.rng.usize(50..=500)),
    };
    let consuming = Arc::new(AtomicBool::new(true));
    let still_consuming = consuming.clone();
    let name = format!("consumer of {send_side}");
    crew.start(Role::workload(name, thieves, false), move |ctx| {
        consumer(ctx, vec![inbox]);
        consuming.store(false, SeqCst);
    });
    let name = format!("thief sending to {send_side}");
    crew.start(Role::workload(name, thieves, false), move |ctx| {
        thief_sender(ctx, send_side, z_tx, still_consuming)
    });
    Some(Bounce {
        receive_side_sender: tx,
        stop,
        send_side,
        send_side_receiver: z_rx,
    })
}

fn select_receiver(ctx: Ctx, info: ChannelInfo, rx: Receiver<Msg>) {
    let mut order = Order::new();
    loop {
        ctx.doing(
            "Select::wait (receive arm shared with another Select)",
            Some(info.index),
        );
        match Select::new().recv(&rx, |got| got).wait() {
            Ok(msg) => ctx.receive(msg, info, &mut order),
            Err(RecvError) => return,
        }
    }
}

fn select_sender(mut ctx: Ctx, info: ChannelInfo, tx: Sender<Msg>, stop: Receiver<()>) {
    loop {
        let mut msg = ctx.new_message(info);
        let attempt = ctx.attempt(&mut msg, "Select send arm (shared)", true);
        ctx.doing(
            "Select::wait (send arm shared with another Select)",
            Some(info.index),
        );
        let fired = Select::new()
            .send(&tx, msg, |r: Result<(), SendError<Msg>>| Fired::Sent {
                arm: 0,
                back: r.err().map(|SendError(m)| m),
            })
            .recv(&stop, |_| Fired::Default)
            .wait();
        match fired {
            Fired::Sent { back: None, .. } => attempt.settle(Fate::Sent),
            Fired::Sent { back: Some(_), .. } => {
                attempt.settle(Fate::Returned);
                return;
            }
            _ => {
                attempt.settle(Fate::NotChosen);
                return;
            }
        }
    }
}

/// Keeps taking values with `try_recv` while the workload lasts and its partner still sends,
/// then a little longer: the last value's wake went to a Select, and the thief takes the value
/// from under it.
fn thief_receiver(mut ctx: Ctx, info: ChannelInfo, rx: Receiver<Msg>, partner: Arc<AtomicBool>) {
    let mut order = Order::new();
    let mut tail = 200;
    while tail > 0 {
        if !ctx.busy() && !partner.load(SeqCst) {
            tail -= 1;
        }
        ctx.doing("Receiver::try_recv (stealing)", Some(info.index));
        match rx.try_recv() {
            Ok(msg) => ctx.receive(msg, info, &mut order),
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
        ctx.park_point("yield_now", greenhub::yield_now);
    }
}

/// Keeps the channel full with `try_send` while the workload lasts and its partner still
/// receives, then a little longer: the last freed place's wake went to a Select, and the thief
/// fills the place from under it. A refused message is offered again until it goes in.
fn thief_sender(mut ctx: Ctx, info: ChannelInfo, tx: Sender<Msg>, partner: Arc<AtomicBool>) {
    let mut tail = 200;
    let mut next = None;
    while tail > 0 {
        if !ctx.busy() && !partner.load(SeqCst) {
            tail -= 1;
        }
        let mut msg = next.take().unwrap_or_else(|| ctx.new_message(info));
        let attempt = ctx.attempt(&mut msg, "try_send (filling)", true);
        ctx.doing("Sender::try_send (filling)", Some(info.index));
        match tx.try_send(msg) {
            Ok(()) => attempt.settle(Fate::Sent),
            Err(TrySendError::Full(msg) | TrySendError::Disconnected(msg)) => {
                attempt.settle(Fate::Returned);
                next = Some(msg);
            }
        }
        ctx.park_point("yield_now", greenhub::yield_now);
    }
}
