//! A worker's view of the seed: [`Ctx`] holds its random stream and slot, and gives every
//! scenario the same timeout scopes, park points that must honour cancellation, and message
//! bookkeeping, so that each scenario file is only about its own primitive.

use crate::broken::{lock, Broken};
use crate::ledger::{Attempt, ChannelInfo, Msg};
use crate::micros;
use crate::shared::{Farewell, Shared};
use fastrand::Rng;
use greenhub::JoinError;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What each worker carries: its random stream, its slot, and the seed's shared state.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) rng: Rng,
    pub(crate) slot: usize,
    /// Set by the driver right after it cancelled this worker.
    pub(crate) cancel_seen: Arc<AtomicBool>,
    pub(crate) seq: u64,
}

impl Ctx {
    fn who(&self) -> u32 {
        self.slot as u32
    }

    /// Whether the seed's workload is still on: loops stop starting operations after it.
    pub(crate) fn busy(&self) -> bool {
        Instant::now() < self.shared.workload_end
    }

    /// A random instant within the workload, from now on.
    pub(crate) fn sometime(&mut self) -> Instant {
        let left = self
            .shared
            .workload_end
            .saturating_duration_since(Instant::now());
        Instant::now() + left.mul_f64(self.rng.f64())
    }

    pub(crate) fn doing(&self, what: &'static str, on: Option<usize>) {
        let mut activity = lock(&self.shared.activity);
        activity[self.slot].doing = what;
        activity[self.slot].on = on;
    }

    pub(crate) fn violation(&self, broken: Broken, detail: String) {
        let name = self.shared.slot_name(self.slot);
        self.shared.violation(broken, format!("{name}: {detail}"));
    }

    pub(crate) fn chance(&mut self, percent: u8) -> bool {
        self.rng.u8(0..100) < percent
    }

    /// A timeout for a timed call or a scope: zero, under a millisecond, or a few.
    pub(crate) fn short(&mut self) -> Duration {
        match self.rng.u8(0..4) {
            0 => Duration::ZERO,
            1 | 2 => micros(self.rng.u64(0..1000)),
            _ => micros(self.rng.u64(1000..4000)),
        }
    }

    pub(crate) fn timed_out(&self) {
        self.shared.stats.timed_waits.fetch_add(1, SeqCst);
    }

    /// Runs `f` inside a short `timeout` scope; `None` when the scope expired. Sometimes the
    /// scope holds a destructor that parks when `f` unwinds.
    pub(crate) fn scoped<T>(&mut self, f: impl FnOnce() -> T) -> Option<T> {
        if !self.shared.config.runs("scopes") {
            return Some(f());
        }
        let d = self.short();
        let farewell = (self.shared.config.runs("farewell") && self.chance(20))
            .then(|| Farewell::random(self.shared.clone(), &mut self.rng));
        let outcome = greenhub::timeout(d, move || {
            let mut farewell = farewell;
            let value = f();
            if let Some(farewell) = &mut farewell {
                farewell.armed = false;
            }
            value
        });
        match outcome {
            Ok(value) => Some(value),
            Err(_) => {
                self.shared.stats.scopes_expired.fetch_add(1, SeqCst);
                None
            }
        }
    }

    /// Where this worker runs, and what happened on that hub lately, for reports about
    /// ignored cancels and deadlines.
    fn hub_note(&self, unwinding_parks_before: Option<usize>) -> String {
        match greenhub::current_hub() {
            Some(h) => {
                let now = self.shared.unwinding_parks[h].load(SeqCst);
                let during = unwinding_parks_before.map_or(0, |before| now - before);
                format!(
                    " (hub {h}: {} green thread(s) there are parked in a destructor while \
                     unwinding now, {during} started doing so during this call)",
                    self.shared.unwinding_parked[h].load(SeqCst)
                )
            }
            None => " (on an OS thread)".to_string(),
        }
    }

    fn unwinding_parks_here(&self) -> Option<usize> {
        greenhub::current_hub().map(|h| self.shared.unwinding_parks[h].load(SeqCst))
    }

    /// Parks through `park`; a park that begins after this worker was cancelled must unwind.
    pub(crate) fn park_point(&mut self, what: &'static str, park: impl FnOnce()) {
        let cancelled = self.cancel_seen.load(SeqCst);
        let before = self.unwinding_parks_here();
        park();
        if cancelled {
            let note = self.hub_note(before);
            self.violation(
                Broken::CancelIgnored,
                format!("{what} returned normally after JoinHandle::cancel(){note}"),
            );
        }
    }

    /// `timeout(d, sleep(d + 20 ms))` must return `Elapsed`: the scope's timer wakes the sleep
    /// long before its own deadline, and the park must unwind. (Only a hub more than 20 ms late
    /// for both timers could see the sleep's own deadline pass first.)
    fn scope_must_expire(&mut self) {
        if !self.shared.config.runs("scopes") {
            return;
        }
        let d = micros(self.rng.u64(0..1500));
        let nap = d + Duration::from_millis(20);
        let cancelled = self.cancel_seen.load(SeqCst);
        let before = self.unwinding_parks_here();
        self.doing("timeout(d, sleep(d + 20 ms))", None);
        let outcome = greenhub::timeout(d, || greenhub::sleep(nap));
        let note = self.hub_note(before);
        if cancelled {
            self.violation(
                Broken::CancelIgnored,
                format!("timeout(sleep) returned normally after JoinHandle::cancel(){note}"),
            );
        }
        match outcome {
            Err(_) => {
                self.shared.stats.scopes_expired.fetch_add(1, SeqCst);
            }
            Ok(()) => self.violation(
                Broken::ScopeIgnored,
                format!("timeout({d:?}, || sleep({nap:?})) returned Ok{note}"),
            ),
        }
    }

    /// A random pause between operations: nothing, a yield, a short sleep, or a scope that
    /// must expire.
    pub(crate) fn pause(&mut self) {
        match self.rng.u8(0..16) {
            0..=5 => {}
            6..=9 => self.park_point("yield_now", greenhub::yield_now),
            10..=14 => {
                let nap = micros(self.rng.u64(0..700));
                self.park_point("sleep", || greenhub::sleep(nap));
            }
            _ => self.scope_must_expire(),
        }
    }

    pub(crate) fn new_message(&self, channel: ChannelInfo) -> Msg {
        Msg {
            id: self.shared.ledger.add(Some(channel)),
            channel: channel.index,
            producer: self.who(),
            seq: 0,
            received_by: None,
            note_dropper: false,
            ledger: self.shared.ledger.clone(),
        }
    }

    pub(crate) fn new_token(&self) -> Msg {
        Msg {
            id: self.shared.ledger.add(None),
            channel: usize::MAX,
            producer: self.who(),
            seq: 0,
            received_by: None,
            note_dropper: true,
            ledger: self.shared.ledger.clone(),
        }
    }

    /// Begins a send attempt: stamps the message's place in this producer's order and marks it
    /// in flight until the attempt is settled.
    pub(crate) fn attempt(&mut self, msg: &mut Msg, how: &'static str, strict: bool) -> Attempt {
        self.seq += 1;
        msg.seq = self.seq;
        self.shared.ledger.begin(msg.id, how, strict);
        Attempt {
            ledger: self.shared.ledger.clone(),
            id: msg.id,
            settled: false,
        }
    }

    /// Takes delivery of a message received on `channel`, checking channel and order.
    pub(crate) fn receive(&self, mut msg: Msg, channel: ChannelInfo, order: &mut Order) {
        if msg.channel != channel.index {
            self.violation(
                Broken::WrongChannel,
                format!(
                    "message #{} of channel {} received on {channel}",
                    msg.id, msg.channel
                ),
            );
        }
        let last = order.entry((msg.producer, msg.channel)).or_insert(0);
        if msg.seq <= *last {
            self.violation(
                Broken::OutOfOrder,
                format!(
                    "on {channel}: message #{} (attempt {} of producer {}) after attempt {}",
                    msg.id, msg.seq, msg.producer, *last
                ),
            );
        }
        *last = (*last).max(msg.seq);
        msg.received_by = Some(self.who());
    }

    pub(crate) fn joined_token(&self, joined: Result<Msg, JoinError>) {
        match joined {
            Ok(mut token) => token.received_by = Some(self.who()),
            Err(e) if e.is_cancelled() => {}
            Err(e) => self.violation(Broken::Panicked, format!("a child panicked: {e}")),
        }
    }
}

/// The last attempt number seen from each (producer, channel), per receiver.
pub(crate) type Order = HashMap<(u32, usize), u64>;
