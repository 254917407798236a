//! The keeper: renews this server's nick claims every third of their expiry, and writes what
//! `/who` and `/rooms` on the other servers need (this server's rooms and who is in them) as
//! one key with the same expiry, whenever it changed. A server that dies stops both: its nicks
//! come free and its rooms drop out of the listings within the expiry.

use super::link::Link;
use super::{nick_key, servers_key, Cluster, CLAIM, RELEASE};
use crate::server::{line, Chat};
use redis::RedisResult;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Changes that come close together are written once, this long after the first.
const SETTLE: Duration = Duration::from_millis(100);
/// Claims renewed in one pipelined batch at most.
const CLAIMS_PER_BATCH: usize = 512;

pub(super) fn run(chat: &Chat, cluster: &Cluster) {
    let mut link: Option<Link> = None;
    // Nicks whose owners were told another server holds them, so as to tell them only once.
    let mut told = HashSet::new();
    loop {
        if cluster.changed.wait_timeout(cluster.ttl / 3) {
            greenhub::sleep(SETTLE);
        }
        if !cluster.is_up() {
            link = None;
            continue;
        }
        cluster.changed.clear();
        cluster.keep_current(&mut link);
        if link.is_none() {
            match cluster.connect() {
                Ok(connected) => link = Some(connected),
                Err(err) => {
                    log::debug!("cluster: keeper cannot connect: {err}");
                    cluster.changed(); // try again soon
                    continue;
                }
            }
        }
        let Some(connected) = link.as_mut() else {
            continue;
        };
        if let Err(err) = keep(chat, cluster, connected, &mut told) {
            log::warn!("cluster: cannot renew claims: {err}");
            link = None;
            cluster.changed();
        }
    }
}

/// One round: renew every claim, then write this server's rooms.
fn keep(
    chat: &Chat,
    cluster: &Cluster,
    link: &mut Link,
    told: &mut HashSet<String>,
) -> RedisResult<()> {
    let members = chat.directory().members();
    let ttl = cluster.ttl.as_millis() as u64;
    let mut conflicts = Vec::new();
    for chunk in members.chunks(CLAIMS_PER_BATCH) {
        let mut renew = redis::pipe();
        for (nick, _) in chunk {
            renew
                .cmd("EVAL")
                .arg(CLAIM)
                .arg(1)
                .arg(nick_key(nick))
                .arg(&cluster.id)
                .arg(ttl);
        }
        let held: Vec<i64> = renew.query(link)?;
        for ((nick, _), held) in chunk.iter().zip(held) {
            if held == 0 {
                conflicts.push(nick.clone());
            }
        }
    }
    // A client that renamed or left since the snapshot may have had its old nick claimed
    // again just now: give those back.
    let stale: Vec<&String> = {
        let directory = chat.directory();
        members
            .iter()
            .map(|(nick, _)| nick)
            .filter(|nick| !directory.has_nick(nick))
            .collect()
    };
    for nick in stale {
        redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(nick_key(nick))
            .arg(&cluster.id)
            .exec(link)?;
    }
    told.retain(|nick| conflicts.contains(nick));
    for nick in conflicts {
        if told.insert(nick.clone()) {
            log::warn!("cluster: {nick} is claimed by another server too (taken while apart)");
            let notice = format!(
                "!!! another chat server has a user called {nick} too (you both took it while \
                 the servers were apart): please pick another nick with /nick"
            );
            if let Some(outbox) = chat.directory().outbox_of(&nick) {
                let _ = outbox.try_send(line(notice));
            }
        }
    }
    // Room name to its nicks here, for /who and /rooms elsewhere.
    let mut rooms: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (nick, room) in &members {
        rooms.entry(room).or_default().push(nick);
    }
    let state = serde_json::to_string(&rooms).map_err(|e| std::io::Error::other(e.to_string()))?;
    redis::pipe()
        .cmd("SET")
        .arg(cluster.state_key())
        .arg(state)
        .arg("PX")
        .arg(ttl)
        .ignore()
        .cmd("SADD")
        .arg(servers_key())
        .arg(&cluster.id)
        .ignore()
        .exec(link)?;
    Ok(())
}
