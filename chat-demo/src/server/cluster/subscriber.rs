//! The subscriber: one connection subscribed to the room channel and to this server's own
//! channel, read by one green thread that hands each line to this server's members in the
//! order Redis sent them. It is also the judge of whether Redis is there: it reconnects with
//! backoff, pings a quiet link, and tells the clients once when the link goes and once when it
//! is back.

use super::link::Link;
use super::wire::Message;
use super::{server_channel, Cluster, LINK_BACK, LINK_LOST, ROOMS_CHANNEL};
use crate::server::fanout::TimeSlice;
use crate::server::{line, Chat, Kind};
use greenhub::sync::TrySendError;
use redis::{RedisResult, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A quiet link is pinged this often...
const HEARTBEAT: Duration = Duration::from_secs(1);
/// ...and counts as gone when nothing at all came for this long.
const SILENCE: Duration = Duration::from_secs(3);
/// The first wait before reconnecting, doubled after each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Says Redis is away when the subscriber ends, however it ends (cancelled at shutdown, or a
/// panic): no one else would notice that nothing is delivered any more.
struct AwayWhenGone<'a>(&'a Cluster);

impl Drop for AwayWhenGone<'_> {
    fn drop(&mut self) {
        self.0.up.store(false, Ordering::Release);
    }
}

pub(super) fn run(chat: &Chat, cluster: &Cluster) {
    let _away = AwayWhenGone(cluster);
    let mut backoff = MIN_BACKOFF;
    // Whether the clients were told the link is gone (and so must hear that it is back).
    let mut told_lost = false;
    loop {
        match subscribe(cluster) {
            Ok(link) => {
                backoff = MIN_BACKOFF;
                cluster.epoch.fetch_add(1, Ordering::AcqRel);
                cluster.up.store(true, Ordering::Release);
                cluster.ready.set();
                log::info!("cluster: server {} subscribed", cluster.id);
                // The keeper claims this server's nicks again and writes its rooms: after a
                // restart Redis has forgotten them.
                cluster.changed();
                if std::mem::take(&mut told_lost) {
                    chat.tell_everyone(LINK_BACK);
                }
                let why = listen(chat, cluster, link);
                cluster.up.store(false, Ordering::Release);
                log::warn!("cluster: lost the link to redis: {why}");
            }
            Err(err) => log::debug!("cluster: cannot reach redis: {err}"),
        }
        if !told_lost {
            log::warn!("cluster: redis is out of reach; retrying with backoff");
            chat.tell_everyone(LINK_LOST);
            told_lost = true;
        }
        greenhub::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A connection subscribed to the room channel and this server's channel.
fn subscribe(cluster: &Cluster) -> RedisResult<Link> {
    let mut link = Link::connect(&cluster.info, Some(HEARTBEAT))?;
    let channels = [ROOMS_CHANNEL.to_string(), server_channel(&cluster.id)];
    link.send(redis::cmd("SUBSCRIBE").arg(&channels))?;
    let mut confirmed = 0;
    let deadline = Instant::now() + SILENCE;
    while confirmed < channels.len() {
        match link.recv() {
            Ok(value) if push_kind(&value).as_deref() == Some("subscribe") => confirmed += 1,
            Ok(other) => {
                return Err(std::io::Error::other(format!("SUBSCRIBE answered {other:?}")).into())
            }
            Err(err) if err.is_timeout() && Instant::now() < deadline => {}
            Err(err) => return Err(err),
        }
    }
    Ok(link)
}

/// Delivers what comes until the link fails; returns why.
fn listen(chat: &Chat, cluster: &Cluster, mut link: Link) -> redis::RedisError {
    let mut heard_at = Instant::now();
    let mut slice = TimeSlice::new();
    loop {
        match link.recv() {
            Ok(value) => {
                heard_at = Instant::now();
                if let Some(payload) = message_payload(&value) {
                    let backlogged = deliver(chat, cluster, payload);
                    slice.take_turns(backlogged);
                }
            }
            Err(err) if err.is_timeout() => {
                if heard_at.elapsed() >= SILENCE {
                    return std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("redis said nothing for {SILENCE:?}, not even to a PING"),
                    )
                    .into();
                }
                if let Err(err) = link.send(&redis::cmd("PING")) {
                    return err;
                }
            }
            Err(err) => return err,
        }
    }
}

/// The kind of a pushed value (`message`, `subscribe`, `pong`, ...).
fn push_kind(value: &Value) -> Option<String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Push { data, .. } => data,
        _ => return None,
    };
    match items.first()? {
        Value::BulkString(kind) => Some(String::from_utf8_lossy(kind).into_owned()),
        Value::SimpleString(kind) => Some(kind.clone()),
        _ => None,
    }
}

/// The payload of a `message` push: `["message", channel, payload]`.
fn message_payload(value: &Value) -> Option<&[u8]> {
    if push_kind(value).as_deref() != Some("message") {
        return None;
    }
    let items = match value {
        Value::Array(items) => items,
        Value::Push { data, .. } => data,
        _ => return None,
    };
    match items.get(2)? {
        Value::BulkString(payload) => Some(payload),
        _ => None,
    }
}

/// Hands one message to this server's members; returns whether some queue is backing up.
fn deliver(chat: &Chat, cluster: &Cluster, payload: &[u8]) -> bool {
    match Message::decode(payload) {
        Some(Message::Room {
            from,
            kind,
            room,
            line: said,
        }) => {
            if from == cluster.id {
                return false; // our own publication: its members here already have it
            }
            let Some(room) = chat.directory().room(room) else {
                return false; // nobody here is in that room
            };
            if kind == Kind::Notice && room.size() > chat.config.announce_limit {
                return false;
            }
            chat.rooms.broadcast(&room, 0, said.into())
        }
        Some(Message::Private {
            from,
            from_nick,
            to,
            line: said,
        }) => {
            let target = chat.directory().outbox_of(to);
            let refusal = match target {
                Some(outbox) => match outbox.try_send(said.into()) {
                    Ok(()) => None,
                    Err(TrySendError::Full(_)) => {
                        Some(format!("!!! {to} is not reading; message not delivered"))
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        Some(format!("!!! {to} left; message not delivered"))
                    }
                },
                None => Some(format!("!!! no one is called {to}")),
            };
            if let Some(refusal) = refusal {
                let text = line(refusal);
                let bounce = Message::Bounce {
                    to: from_nick,
                    line: &text,
                };
                cluster.publish_to(from, bounce.encode());
            }
            false
        }
        Some(Message::Bounce { to, line: said }) => {
            let target = chat.directory().outbox_of(to);
            if let Some(outbox) = target {
                let _ = outbox.try_send(said.into());
            }
            false
        }
        None => {
            log::debug!("cluster: ignored a message that is not the chat's");
            false
        }
    }
}
