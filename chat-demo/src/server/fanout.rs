//! Rooms that span hubs. Each hub keeps its own members of each room in a shard that only its
//! own green threads touch, and runs one fan-out green thread. A line goes to the members on
//! the sender's hub straight from the sender, and to every other hub that has members of the
//! room as one envelope in that hub's inbox, which its fan-out delivers locally:
//!
//! ```text
//!   hub 0                                     hub 1
//!   reader of alice ── line ──► inbox of hub 1 ──► fan-out ──► outbox of carol, dave, ...
//!        │                      (one hand-off per hub, not per member)
//!        └──► outbox of bob, erin, ... (the members on hub 0, from alice's reader)
//! ```
//!
//! Each sender's lines enter every queue in the order it sent them: its own hub's outboxes
//! directly, and each other hub's through one FIFO inbox and one fan-out. A full outbox is
//! waited for (its writer decides whether the client is too slow, see `writer.rs`), never
//! skipped, so order and completeness hold for every receiver that stays.

use super::directory::Room;
use super::outbox::Outbox;
use greenhub::sync::{bounded, Receiver, Sender, TrySendError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Envelopes waiting for one hub's fan-out; a sender parks while it is full.
const INBOX: usize = 1024;

/// The longest a reader or a fan-out runs on without letting the rest of its hub have a turn:
/// the writers it fills, and the other readers.
const SLICE: Duration = Duration::from_micros(500);

/// Yields once the slice since the last yield is spent. It cannot see parks in between, so it
/// may yield a little early after one; a yield with nobody else to run costs tens of ns.
pub(super) struct TimeSlice {
    since: Instant,
}

impl TimeSlice {
    pub(super) fn new() -> TimeSlice {
        TimeSlice {
            since: Instant::now(),
        }
    }

    /// Yields now if `backlogged` (some queue this filled is half full: let its writer drain
    /// it) or if the slice is spent.
    pub(super) fn take_turns(&mut self, backlogged: bool) {
        if backlogged || self.since.elapsed() >= SLICE {
            greenhub::yield_now();
            self.since = Instant::now();
        }
    }
}

/// A line for the members of `room` on one hub, except the sender.
struct Envelope {
    room: Arc<Room>,
    except: u64,
    line: Arc<str>,
}

/// The members of one room on one hub, with their outboxes.
type Members = Vec<(u64, Outbox)>;

/// One hub's members, by room. Only that hub's green threads touch it (its sessions and its
/// fan-out), so its lock is never contended; it is a lock at all only because the server's
/// state must be `Sync` to be shared with the other hubs.
#[derive(Default)]
struct Shard {
    rooms: Mutex<HashMap<Arc<str>, Members>>,
}

impl Shard {
    fn rooms(&self) -> MutexGuard<'_, HashMap<Arc<str>, Members>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every hub's shard and fan-out inbox.
pub(super) struct Rooms {
    shards: Vec<Shard>,
    inboxes: Vec<Sender<Envelope>>,
    fanouts: Mutex<Vec<greenhub::JoinHandle<()>>>,
}

impl Rooms {
    /// Shards and a fan-out green thread for each of the runtime's hubs. Call it from a green
    /// thread.
    pub(super) fn start() -> Arc<Rooms> {
        let hubs = greenhub::hub_count().unwrap_or(1);
        let (inboxes, receivers): (Vec<_>, Vec<_>) = (0..hubs).map(|_| bounded(INBOX)).unzip();
        let rooms = Arc::new(Rooms {
            shards: (0..hubs).map(|_| Shard::default()).collect(),
            inboxes,
            fanouts: Mutex::default(),
        });
        let fanouts = receivers
            .into_iter()
            .enumerate()
            .map(|(hub, inbox)| {
                let rooms = rooms.clone();
                greenhub::spawn_on(hub, move || rooms.fan_out(hub, inbox))
            })
            .collect();
        *rooms.fanouts.lock().unwrap_or_else(|e| e.into_inner()) = fanouts;
        rooms
    }

    /// Ends the fan-out green threads (at shutdown, once the sessions are gone).
    pub(super) fn stop(&self) {
        let fanouts = std::mem::take(&mut *self.fanouts.lock().unwrap_or_else(|e| e.into_inner()));
        for fanout in fanouts {
            fanout.cancel();
            let _ = fanout.join();
        }
    }

    /// Adds a member served by `hub` to `room`'s members there.
    pub(super) fn add(&self, hub: usize, room: &Room, id: u64, outbox: Outbox) {
        self.shards[hub]
            .rooms()
            .entry(room.name.clone())
            .or_default()
            .push((id, outbox));
    }

    /// Takes a member served by `hub` out of `room`.
    pub(super) fn remove(&self, hub: usize, room: &Room, id: u64) {
        let mut rooms = self.shards[hub].rooms();
        if let Some(members) = rooms.get_mut(&room.name) {
            members.retain(|(member, _)| *member != id);
            if members.is_empty() {
                rooms.remove(&room.name);
            }
        }
    }

    // ANCHOR: tell_room
    /// Queues `line` for every member of `room` but `except`: one envelope for each other hub
    /// that has members there, and straight into the outboxes of the members on this hub.
    /// Returns whether some queue here is half full or more, so that the caller can let the
    /// writers run before it broadcasts again. Call it from a green thread.
    pub(super) fn broadcast(&self, room: &Arc<Room>, except: u64, line: Arc<str>) -> bool {
        let here = greenhub::current_hub().unwrap_or(0);
        for hub in (0..room.hubs()).filter(|&hub| hub != here) {
            if room.members_on(hub) > 0 {
                let envelope = Envelope {
                    room: room.clone(),
                    except,
                    line: line.clone(),
                };
                // Parks while that hub's inbox is full: back-pressure, in order.
                let _ = self.inboxes[hub].send(envelope);
            }
        }
        self.deliver(here, &room.name, except, &line)
    }

    /// Queues `line` for the members of `room` on `hub`, except `except`.
    fn deliver(&self, hub: usize, room: &str, except: u64, line: &Arc<str>) -> bool {
        let mut full = Vec::new();
        let mut backlogged = false;
        {
            let rooms = self.shards[hub].rooms();
            let Some(members) = rooms.get(room) else {
                return false;
            };
            for (id, outbox) in members.iter().filter(|(id, _)| *id != except) {
                match outbox.try_send(line.clone()) {
                    Ok(()) => backlogged |= outbox.is_half_full(),
                    Err(TrySendError::Full(_)) => full.push((*id, outbox.clone())),
                    Err(TrySendError::Disconnected(_)) => {} // leaving: its session cleans up
                }
            }
        }
        // A full queue is not yet a slow client: its writer may just not have run since the
        // burst began. Wait for room, outside the lock since this parks. The writer either
        // drains the queue or, once the client's socket has accepted nothing for the grace
        // period, gives up on it, and then this send returns at once.
        for (id, outbox) in &full {
            if outbox.send(line.clone()).is_err() {
                log::debug!("client {id} left while a line waited for room in its queue");
            }
        }
        backlogged || !full.is_empty()
    }
    // ANCHOR_END: tell_room

    /// One hub's fan-out: delivers the envelopes other hubs send here, a slice at a time.
    fn fan_out(&self, hub: usize, inbox: Receiver<Envelope>) {
        let mut slice = TimeSlice::new();
        for envelope in inbox.iter() {
            let backlogged =
                self.deliver(hub, &envelope.room.name, envelope.except, &envelope.line);
            slice.take_turns(backlogged);
        }
    }
}
