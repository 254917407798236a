//! Who is connected, under which nick, in which room, on which hub: the one piece of state
//! every hub shares. It sits behind one `std::sync::Mutex`, taken when a client arrives,
//! leaves, renames itself or changes rooms, and for `/who`, `/rooms` and `/msg`, but never for
//! a chat line: a broadcast reads a room's per-hub head counts (atomics in [`Room`]) and its own
//! hub's shard (see `fanout.rs`), so lines on different hubs never meet at a lock.

use super::connection::Connection;
use super::outbox::Outbox;
use super::LOBBY;
use crate::text::{nick_key, room_key};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A room's name and how many of its members each hub serves. The counts change under the
/// directory's lock and are read without it, so a sender can tell which hubs to hand a line
/// to without taking any shared lock.
pub(super) struct Room {
    pub(super) name: Arc<str>,
    members_on_hub: Vec<AtomicUsize>,
}

impl Room {
    fn new(name: &str, hubs: usize) -> Room {
        Room {
            name: name.into(),
            members_on_hub: (0..hubs).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Members served by `hub`.
    pub(super) fn members_on(&self, hub: usize) -> usize {
        self.members_on_hub[hub].load(Ordering::Acquire)
    }

    /// Members on every hub.
    pub(super) fn size(&self) -> usize {
        (0..self.members_on_hub.len())
            .map(|hub| self.members_on(hub))
            .sum()
    }

    pub(super) fn hubs(&self) -> usize {
        self.members_on_hub.len()
    }
}

/// What the directory knows of one client: enough to list it, rename it, send it a private
/// message and, at shutdown, say goodbye and end its session.
pub(super) struct Entry {
    pub(super) nick: String,
    pub(super) room: Arc<Room>,
    pub(super) hub: usize,
    pub(super) outbox: Outbox,
    pub(super) stream: Arc<Connection>,
}

/// Everyone connected.
pub(super) struct Directory {
    hubs: usize,
    next_id: u64,
    pub(super) clients: HashMap<u64, Entry>,
    /// Nick keys (see [`nick_key`]) to client ids.
    nicks: HashMap<String, u64>,
    /// Non-empty rooms and their members, by [`room_key`]: look-alike spellings of a name are
    /// one room, shown under the spelling that made it.
    rooms: HashMap<String, (Arc<Room>, HashSet<u64>)>,
    /// Set at shutdown: nobody new gets in.
    pub(super) closing: bool,
}

impl Directory {
    pub(super) fn new(hubs: usize) -> Directory {
        Directory {
            hubs,
            next_id: 1,
            clients: HashMap::new(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
            closing: false,
        }
    }

    /// Registers a client served by `hub` in the lobby, as `wanted` if that is free here (a
    /// guest nick the cluster handed out) or else as guest-N; returns its id, nick and room.
    pub(super) fn join(
        &mut self,
        hub: usize,
        outbox: Outbox,
        stream: Arc<Connection>,
        wanted: Option<String>,
    ) -> (u64, String, Arc<Room>) {
        let id = self.next_id;
        self.next_id += 1;
        let mut n = id;
        let nick = match wanted {
            Some(wanted) if !self.nicks.contains_key(&nick_key(&wanted)) => wanted,
            _ => loop {
                let candidate = format!("guest-{n}");
                if !self.nicks.contains_key(&nick_key(&candidate)) {
                    break candidate;
                }
                n += 1_000_000;
            },
        };
        let room = self.enter(LOBBY, id, hub);
        self.nicks.insert(nick_key(&nick), id);
        self.clients.insert(
            id,
            Entry {
                nick: nick.clone(),
                room: room.clone(),
                hub,
                outbox,
                stream,
            },
        );
        (id, nick, room)
    }

    /// Forgets a client.
    pub(super) fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.clients.remove(&id)?;
        self.nicks.remove(&nick_key(&entry.nick));
        self.exit(&entry.room, id, entry.hub);
        Some(entry)
    }

    /// Moves a client to `room`; returns the room it is in now.
    pub(super) fn move_to(&mut self, id: u64, room: &str) -> Option<Arc<Room>> {
        let (old, hub) = {
            let entry = self.clients.get(&id)?;
            (entry.room.clone(), entry.hub)
        };
        self.exit(&old, id, hub);
        let new = self.enter(room, id, hub);
        if let Some(entry) = self.clients.get_mut(&id) {
            entry.room = new.clone();
        }
        Some(new)
    }

    /// Renames a client.
    ///
    /// # Errors
    ///
    /// When another client has that nick, ignoring case and look-alikes.
    pub(super) fn rename(&mut self, id: u64, wanted: &str) -> Result<(), String> {
        let key = nick_key(wanted);
        match self.nicks.get(&key) {
            Some(owner) if *owner != id => return Err(format!("{wanted} is taken")),
            _ => {}
        }
        let entry = self.clients.get_mut(&id).ok_or("you are not connected")?;
        self.nicks.remove(&nick_key(&entry.nick));
        entry.nick = wanted.to_string();
        self.nicks.insert(key, id);
        Ok(())
    }

    /// The outbox of whoever is called `nick` (ignoring case).
    pub(super) fn outbox_of(&self, nick: &str) -> Option<Outbox> {
        let id = self.nicks.get(&nick_key(nick))?;
        Some(self.clients.get(id)?.outbox.clone())
    }

    /// Whether some client here is called `nick` (ignoring case and look-alikes).
    pub(super) fn has_nick(&self, nick: &str) -> bool {
        self.nicks.contains_key(&nick_key(nick))
    }

    /// The room called `name` (in any spelling of it), if anyone here is in it.
    pub(super) fn room(&self, name: &str) -> Option<Arc<Room>> {
        Some(self.rooms.get(&room_key(name))?.0.clone())
    }

    /// Every client's nick and room.
    pub(super) fn members(&self) -> Vec<(String, Arc<str>)> {
        let clients = self.clients.values();
        clients
            .map(|c| (c.nick.clone(), c.room.name.clone()))
            .collect()
    }

    /// Every room with its size, sorted by name.
    pub(super) fn room_sizes(&self) -> Vec<(Arc<str>, usize)> {
        let mut sizes: Vec<_> = self
            .rooms
            .values()
            .map(|(room, members)| (room.name.clone(), members.len()))
            .collect();
        sizes.sort();
        sizes
    }

    /// The nicks in `room`, sorted.
    pub(super) fn nicks_in(&self, room: &str) -> Vec<String> {
        let mut nicks: Vec<String> = self
            .rooms
            .get(&room_key(room))
            .into_iter()
            .flat_map(|(_, members)| members)
            .filter_map(|id| Some(self.clients.get(id)?.nick.clone()))
            .collect();
        nicks.sort();
        nicks
    }

    fn enter(&mut self, name: &str, id: u64, hub: usize) -> Arc<Room> {
        let hubs = self.hubs;
        let (room, members) = self
            .rooms
            .entry(room_key(name))
            .or_insert_with(|| (Arc::new(Room::new(name, hubs)), HashSet::new()));
        members.insert(id);
        // Release: a sender that sees the new count also sees the room it counts.
        room.members_on_hub[hub].fetch_add(1, Ordering::Release);
        room.clone()
    }

    fn exit(&mut self, room: &Room, id: u64, hub: usize) {
        let key = room_key(&room.name);
        let Some((listed, members)) = self.rooms.get_mut(&key) else {
            return;
        };
        if members.remove(&id) {
            listed.members_on_hub[hub].fetch_sub(1, Ordering::Release);
        }
        if members.is_empty() {
            self.rooms.remove(&key);
        }
    }
}
