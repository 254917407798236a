//! Channels and the message ledger: the three kinds of channel, the messages whose destructors
//! write their fate into the [`Ledger`], and the [`Attempt`] that records a send cut short.
//!
//! Promise 1 (every message received exactly once, or handed back) is checked against this
//! record alone, so it lives apart from the workers that fill it.

use crate::broken::lock;
use fastrand::Rng;
use greenhub::sync;
use greenhub::sync::{Receiver, Sender};
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Unbounded,
    Bounded(usize),
    Rendezvous,
}

impl Kind {
    pub(crate) fn random(rng: &mut Rng, rendezvous: bool) -> Kind {
        match rng.u8(0..20) {
            0..=4 => Kind::Unbounded,
            5..=11 if rendezvous => Kind::Bounded(rng.usize(1..=3)),
            5..=19 if !rendezvous => Kind::Bounded(rng.usize(1..=3)),
            _ => Kind::Rendezvous,
        }
    }

    pub(crate) fn channel<T>(self) -> (Sender<T>, Receiver<T>) {
        match self {
            Kind::Unbounded => sync::channel(),
            Kind::Bounded(capacity) => sync::bounded(capacity),
            Kind::Rendezvous => sync::bounded(0),
        }
    }
}

/// What every message and worker knows about a channel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelInfo {
    pub(crate) index: usize,
    pub(crate) kind: Kind,
    /// A drained channel has a receiver that is never cancelled and receives until every
    /// sender is gone, so every message sent with `Ok` on it must be received. The other
    /// channels close early: their receivers stop after a quota, and senders see `Disconnected`.
    pub(crate) drained: bool,
}

impl fmt::Display for ChannelInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Unbounded => "unbounded".to_string(),
            Kind::Bounded(n) => format!("bounded({n})"),
            Kind::Rendezvous => "rendezvous".to_string(),
        };
        let class = if self.drained { "drained" } else { "closing" };
        write!(f, "channel {} ({kind}, {class})", self.index)
    }
}

/// What a sender was told about its last attempt to send a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fate {
    /// No send attempted (join tokens, or a message whose first attempt never began).
    Unsent,
    /// An attempt began and never ended: its sender is stuck, or its stack was leaked.
    InFlight,
    Sent,
    /// The value came back to the sender (an error, or a send arm's `Err`).
    Returned,
    /// The send unwound (cancel, or its `timeout` scope expired): the sender believes it was
    /// not sent.
    CutShort,
    /// A `Select` picked another arm (or its timeout or default); the value was dropped with it.
    NotChosen,
}

pub(crate) struct Record {
    pub(crate) channel: Option<ChannelInfo>,
    pub(crate) fate: Fate,
    pub(crate) how: &'static str,
    /// `Ok` must mean received: a drained channel, or a blocking rendezvous send.
    pub(crate) strict: bool,
    pub(crate) received_by: Option<u32>,
    pub(crate) drops: u32,
    /// For join tokens: the green thread that dropped it.
    dropped_on: Option<u64>,
    /// For join tokens: when the child returned it.
    finished_at: Option<Instant>,
}

/// Every message of a seed and what became of it.
#[derive(Default)]
pub(crate) struct Ledger {
    pub(crate) records: StdMutex<Vec<Record>>,
}

impl Ledger {
    pub(crate) fn add(&self, channel: Option<ChannelInfo>) -> usize {
        let mut records = lock(&self.records);
        records.push(Record {
            channel,
            fate: Fate::Unsent,
            how: "-",
            strict: false,
            received_by: None,
            drops: 0,
            dropped_on: None,
            finished_at: None,
        });
        records.len() - 1
    }

    pub(crate) fn begin(&self, id: usize, how: &'static str, strict: bool) {
        let mut records = lock(&self.records);
        let record = &mut records[id];
        record.fate = Fate::InFlight;
        record.how = how;
        record.strict = strict;
    }

    fn settle(&self, id: usize, fate: Fate) {
        lock(&self.records)[id].fate = fate;
    }

    fn dropped(&self, id: usize, received_by: Option<u32>, dropped_on: Option<u64>) {
        let mut records = lock(&self.records);
        let record = &mut records[id];
        record.drops += 1;
        if received_by.is_some() {
            record.received_by = received_by;
        }
        record.dropped_on = record.dropped_on.or(dropped_on);
    }

    pub(crate) fn finished(&self, id: usize) {
        lock(&self.records)[id].finished_at = Some(Instant::now());
    }

    pub(crate) fn token(&self, id: usize) -> (Option<u64>, Option<Instant>) {
        let records = lock(&self.records);
        (records[id].dropped_on, records[id].finished_at)
    }
}

/// A message with an identity: its destructor tells the ledger whether a receiver had it.
pub(crate) struct Msg {
    pub(crate) id: usize,
    pub(crate) channel: usize,
    pub(crate) producer: u32,
    /// Stamped at each send attempt, so each receiver can check one producer's order.
    pub(crate) seq: u64,
    pub(crate) received_by: Option<u32>,
    pub(crate) note_dropper: bool,
    pub(crate) ledger: Arc<Ledger>,
}

impl Drop for Msg {
    fn drop(&mut self) {
        // Which green thread drops a join token tells a result thrown away by an expiring
        // `timeout` around `join` apart from one the finished child dropped because nobody
        // was waiting for it any more.
        let dropped_on = self.note_dropper.then(|| greenhub::current().id().as_u64());
        self.ledger.dropped(self.id, self.received_by, dropped_on);
    }
}

/// One try at sending a message. Unless settled, it records the send as cut short, so a send
/// that unwinds (cancelled, or its `timeout` scope expired) is on the ledger as not sent.
pub(crate) struct Attempt {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) id: usize,
    pub(crate) settled: bool,
}

impl Attempt {
    pub(crate) fn settle(mut self, fate: Fate) {
        self.ledger.settle(self.id, fate);
        self.settled = true;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.ledger.settle(self.id, Fate::CutShort);
        }
    }
}
