//! What a session asks of the cluster, as methods of the server: a guest nick no other server
//! gives out, a nick claimed everywhere, `/who` and `/rooms` over every server, and `/msg` to
//! a client of another server. Each works without Redis too, on this server alone, and says so.

use super::wire::Message;
use super::Claim;
use crate::server::{line, Chat};
use crate::text::room_key;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Said after `/who` or `/rooms` while the other servers cannot be asked.
const THIS_SERVER_ONLY: &str = "*** (this server only: the other chat servers are out of reach)";

impl Chat {
    /// Tells every client here `text`, without waiting for anyone.
    pub(in crate::server) fn tell_everyone(&self, text: &str) {
        let outboxes: Vec<_> = self
            .directory()
            .clients
            .values()
            .map(|c| c.outbox.clone())
            .collect();
        let text = line(text);
        for outbox in outboxes {
            let _ = outbox.try_send(text.clone());
        }
    }

    /// Says that this server's clients changed, for the cluster's listings.
    pub(in crate::server) fn clients_changed(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.changed();
        }
    }

    /// A guest nick claimed for a new client on every server, or `None` (no cluster, or Redis
    /// away: the directory then picks guest-N on its own).
    pub(in crate::server) fn cluster_guest_nick(&self) -> Option<String> {
        let cluster = self.cluster.as_ref()?;
        for _ in 0..3 {
            let nick = format!("guest-{}", cluster.guest_number().ok()?);
            match cluster.claim(&nick) {
                Claim::Ours => return Some(nick),
                Claim::Taken => continue, // someone took that name with /nick: the next one
                Claim::Unknown => return None,
            }
        }
        None
    }

    /// Claims `wanted` on every server for a client now called `old`.
    ///
    /// # Errors
    ///
    /// The line to tell the client when a client of another server has it.
    pub(in crate::server) fn cluster_claim(&self, old: &str, wanted: &str) -> Result<(), String> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        if crate::text::nick_key(old) == crate::text::nick_key(wanted) {
            return Ok(()); // the same nick, spelled differently: already ours
        }
        match cluster.claim(wanted) {
            Claim::Ours | Claim::Unknown => Ok(()),
            Claim::Taken => Err(format!("{wanted} is taken")),
        }
    }

    /// Gives `nick` back to the cluster (the client left or renamed).
    pub(in crate::server) fn cluster_release(&self, nick: &str) {
        if let Some(cluster) = &self.cluster {
            if !self.directory().has_nick(nick) {
                cluster.release(nick);
            }
        }
    }

    /// The lines answering `/who` in `room`: its members on every server.
    pub(in crate::server) fn who_everywhere(&self, room: &str) -> Vec<String> {
        let mut nicks = self.directory().nicks_in(room);
        let Some(cluster) = &self.cluster else {
            return super::super::listing::who(room, &nicks);
        };
        let others = cluster.other_servers();
        if let Ok(servers) = &others {
            let key = room_key(room);
            for rooms in servers {
                for (name, members) in rooms {
                    if room_key(name) == key {
                        let members = members.as_array().into_iter().flatten();
                        nicks.extend(members.filter_map(|m| Some(m.as_str()?.to_string())));
                    }
                }
            }
            nicks.sort();
        }
        let mut lines = super::super::listing::who(room, &nicks);
        if others.is_err() {
            lines.push(THIS_SERVER_ONLY.to_string());
        }
        lines
    }

    /// The lines answering `/rooms PAGE`: every server's rooms, sizes added up.
    pub(in crate::server) fn rooms_everywhere(&self, page: usize) -> Vec<String> {
        let sizes = self.directory().room_sizes();
        let Some(cluster) = &self.cluster else {
            return super::super::listing::rooms(page, &sizes);
        };
        let others = cluster.other_servers();
        // By room key, shown under the first spelling seen (this server's first).
        let mut merged: BTreeMap<String, (Arc<str>, usize)> = BTreeMap::new();
        for (name, size) in sizes {
            merged.insert(room_key(&name), (name, size));
        }
        for rooms in others.iter().flatten() {
            for (name, members) in rooms {
                let size = members.as_array().map_or(0, Vec::len);
                let entry = merged
                    .entry(room_key(name))
                    .or_insert_with(|| (name.as_str().into(), 0));
                entry.1 += size;
            }
        }
        let mut sizes: Vec<_> = merged.into_values().collect();
        sizes.sort();
        let mut lines = super::super::listing::rooms(page, &sizes);
        if others.is_err() {
            lines.push(THIS_SERVER_ONLY.to_string());
        }
        lines
    }

    /// Sends a private message from `from` to `to`, a client of another server; returns what
    /// to tell the sender, if anything.
    pub(in crate::server) fn message_elsewhere(
        &self,
        from: &str,
        to: &str,
        text: &str,
    ) -> Option<String> {
        let shown = crate::text::sanitize(to);
        let nobody = format!("!!! no one is called {shown}");
        let Some(cluster) = &self.cluster else {
            return Some(nobody);
        };
        let server = match cluster.locate(to) {
            Ok(Some(server)) if server != cluster.id => server,
            Ok(_) => return Some(nobody),
            Err(_) => {
                return Some(format!(
                    "{nobody} here, and the other chat servers are out of reach"
                ))
            }
        };
        let said = line(format!("[pm from {from}] {}", crate::text::sanitize(text)));
        let message = Message::Private {
            from: &cluster.id,
            from_nick: from,
            to,
            line: &said,
        };
        match cluster.send_to(&server, &message.encode()) {
            Ok(0) => Some(nobody), // its server is gone; the claim has not expired yet
            Ok(_) => None,         // a refusal there comes back as a bounce
            Err(_) => Some(format!(
                "!!! {shown} could not be reached; message not delivered"
            )),
        }
    }
}
