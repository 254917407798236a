//! Several chat servers sharing rooms, nicks and private messages through one Redis, as
//! Socket.IO's Redis adapter and Action Cable do. Off unless [`Config::cluster`] names a
//! Redis; each server then keeps four connections to it, each with its own green thread or
//! lock, so that nothing one of them waits for holds up the rest:
//!
//! ```text
//!   sessions ─ tell_room ─► outboxes here (as without a cluster)
//!        │
//!        └─► publish queue (bounded, FIFO) ─► publisher ─ PUBLISH rooms ─► Redis
//!                                                                           │
//!   subscriber ◄─ every server's room lines (its own skipped) ───────────────┘
//!        └─► Rooms::broadcast: this server's members, on every hub, in order
//!   keeper:   nick claims refreshed (SET .. PX), this server's rooms and nicks (/who, /rooms)
//!   commands: a claim for /nick and each guest, /msg to another server, /who, /rooms
//! ```
//!
//! **Order and once.** One publisher per server sends every room line in the order the
//! sessions queued them, over one connection; Redis hands a connection's publications to each
//! subscriber in that order, and each subscriber delivers through the per-hub FIFOs of
//! `fanout.rs`. So every member on every server hears each sender's lines once and in order.
//! Nothing is re-sent after a failure: across an outage, lines are lost to the other servers
//! (and the clients are told), never doubled.
//!
//! **Nicks.** `greenhub-chat:nick:<key>` holds the id of the server whose client has the nick,
//! set only if free (`SET NX`-like, in a script that also accepts the server's own claim) with
//! an expiry that the keeper renews every third of it. A server that dies stops renewing:
//! its nicks come free within [`ClusterConfig::claim_ttl`].
//!
//! **Faults.** The subscriber decides whether Redis is there: it connects with backoff
//! (100 ms doubling to 5 s), pings when the link is quiet, and says so to every client once
//! when the link goes and once when it is back. While Redis is away the server's own rooms
//! work as without a cluster; lines to other servers are dropped, not queued. A full publish
//! queue (Redis slower than the chat) makes a sender wait up to `slow_grace` for room, then
//! the line reaches this server only and is counted; a subscriber slowed by its clients
//! leaves Redis to buffer, and Redis drops it past its `client-output-buffer-limit pubsub`,
//! which is then an outage like any other.

mod hooks;
mod keeper;
mod link;
mod publisher;
mod subscriber;
mod wire;

use super::Kind;
use greenhub::sync::{bounded, Event, Receiver, SendTimeoutError, Sender, TrySendError};
use link::Link;
use redis::{ConnectionInfo, FromRedisValue, IntoConnectionInfo, RedisResult};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the servers of a cluster meet, and who this one is.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT` (optionally `redis://:PASSWORD@HOST:PORT/DB`).
    pub url: String,
    /// This server's name in the cluster: in logs, in Redis keys, and as the owner of its
    /// clients' nicks. Letters, digits, `-` and `_`; unique among the servers.
    pub server_id: String,
    /// How long a nick stays claimed once its server stops renewing it (it renews every third
    /// of this): how soon a crashed server's nicks come free.
    pub claim_ttl: Duration,
}

impl ClusterConfig {
    /// A cluster configuration with claims that expire after 30 s.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `url` is not a `redis://` URL or `server_id` is empty, longer than
    /// 32 characters or has characters other than letters, digits, `-` and `_`.
    ///
    /// # Examples
    ///
    /// ```
    /// use chat_demo::server::ClusterConfig;
    /// let cluster = ClusterConfig::new("redis://127.0.0.1:6379", "east-1")?;
    /// assert_eq!(cluster.claim_ttl.as_secs(), 30);
    /// assert!(ClusterConfig::new("http://127.0.0.1", "a").is_err());
    /// assert!(ClusterConfig::new("redis://127.0.0.1", "a b").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(url: &str, server_id: &str) -> io::Result<ClusterConfig> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        if redis::parse_redis_url(url).is_none() || !url.starts_with("redis://") {
            return Err(invalid(format!("{url:?} is not a redis://HOST:PORT URL")));
        }
        url.into_connection_info()
            .map_err(|e| invalid(format!("{url:?}: {e}")))?;
        let fits = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if server_id.is_empty() || server_id.len() > 32 || !server_id.chars().all(fits) {
            return Err(invalid(format!(
                "server id {server_id:?}: 1 to 32 letters, digits, '-' or '_'"
            )));
        }
        Ok(ClusterConfig {
            url: url.to_string(),
            server_id: server_id.to_string(),
            claim_ttl: Duration::from_secs(30),
        })
    }
}

/// What every key and channel of the chat starts with.
const PREFIX: &str = "greenhub-chat";
/// The channel every room line goes through.
const ROOMS_CHANNEL: &str = "greenhub-chat:rooms";
/// Room lines and private messages waiting for the publisher.
const PUBLISH_QUEUE: usize = 8192;
/// How long a command waits for its reply before Redis counts as away for it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// After a command failed, how long the others fail at once rather than wait for a connect.
const COMMAND_PAUSE: Duration = Duration::from_secs(1);
/// How long a server starting up waits for Redis before it serves its rooms alone.
const STARTUP_WAIT: Duration = Duration::from_secs(2);

/// Told to every client once when the link to Redis goes.
pub(super) const LINK_LOST: &str =
    "!!! lost the link to the other chat servers: this server's rooms still work, \
     but lines said here reach only this server until the link is back";
/// Told to every client once when it is back.
pub(super) const LINK_BACK: &str = "*** the link to the other chat servers is back";
/// Told to a client that arrives while the link is down.
pub(super) const LINK_DOWN: &str =
    "!!! the other chat servers are out of reach just now: you reach this server only";

// ANCHOR: claim
/// Allows the server's own claim or a free nick; 1 when the nick is (now) this server's.
const CLAIM: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end \
    return 0";
// ANCHOR_END: claim
/// Deletes a claim only if it is this server's.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
    return 0";

/// Something for the publisher to send.
pub(super) enum Outgoing {
    /// A line for the members of a room on the other servers.
    Room {
        room: Arc<str>,
        kind: Kind,
        line: Arc<str>,
    },
    /// A private message or a bounce for one server.
    To { server: String, payload: Vec<u8> },
}

/// The command connection and when it last failed.
#[derive(Default)]
struct Commands {
    link: Option<Link>,
    failed_at: Option<Instant>,
}

/// This server's side of the cluster.
pub(super) struct Cluster {
    pub(super) id: String,
    info: ConnectionInfo,
    ttl: Duration,
    /// Set while the subscriber is subscribed: the one judge of whether Redis is there.
    up: AtomicBool,
    /// Counts the subscriber's subscriptions. A link made under an earlier one may point at a
    /// Redis that has restarted since: it is dropped, not tried.
    epoch: AtomicU64,
    /// Set once the subscriber first subscribes.
    ready: Event,
    outgoing: Sender<Outgoing>,
    queued: Mutex<Option<Receiver<Outgoing>>>,
    commands: greenhub::sync::Mutex<Commands>,
    /// Set when a client arrives, leaves, renames or moves, or the link is back: the keeper
    /// then writes this server's part of `/who` and `/rooms` again.
    changed: Event,
    /// Room lines that did not reach the other servers (Redis away or too slow).
    pub(super) dropped: AtomicU64,
    tasks: Mutex<Vec<greenhub::JoinHandle<()>>>,
}

/// Whether a nick is this server's to give.
pub(super) enum Claim {
    Ours,
    Taken,
    /// Redis is away: only this server's clients were asked.
    Unknown,
}

impl Cluster {
    pub(super) fn new(config: &ClusterConfig) -> io::Result<Arc<Cluster>> {
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let (outgoing, queued) = bounded(PUBLISH_QUEUE);
        Ok(Arc::new(Cluster {
            id: config.server_id.clone(),
            info,
            ttl: config.claim_ttl.max(Duration::from_millis(300)),
            up: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            ready: Event::new(),
            outgoing,
            queued: Mutex::new(Some(queued)),
            commands: greenhub::sync::Mutex::new(Commands::default()),
            changed: Event::new(),
            dropped: AtomicU64::new(0),
            tasks: Mutex::default(),
        }))
    }

    /// Starts the subscriber, the publisher and the keeper. Call it from a green thread.
    pub(super) fn start(self: &Arc<Self>, chat: &Arc<super::Chat>) {
        let Some(queue) = self.queued.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        log::info!(
            "cluster: server {} joins through {}",
            self.id,
            self.info.addr
        );
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let (cluster, chat_) = (self.clone(), chat.clone());
        tasks.push(spawn_named("cluster-subscriber", move || {
            subscriber::run(&chat_, &cluster)
        }));
        let cluster = self.clone();
        tasks.push(spawn_named("cluster-publisher", move || {
            publisher::run(&cluster, queue)
        }));
        let (cluster, chat_) = (self.clone(), chat.clone());
        tasks.push(spawn_named("cluster-keeper", move || {
            keeper::run(&chat_, &cluster)
        }));
        drop(tasks);
        // The first clients should find the cluster there, if Redis is: wait for it a little.
        if !self.ready.wait_timeout(STARTUP_WAIT) {
            log::warn!(
                "cluster: redis at {} is out of reach; serving this server's rooms alone until it is there",
                self.info.addr
            );
        }
    }

    /// A new link, marked with the current subscription.
    fn connect(&self) -> RedisResult<Link> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut link = Link::connect(&self.info, Some(REPLY_TIMEOUT))?;
        link.epoch = epoch;
        Ok(link)
    }

    /// Drops `link` if it was made before the subscriber's latest subscription or failed.
    fn keep_current(&self, link: &mut Option<Link>) {
        let current = self.epoch.load(Ordering::Acquire);
        if link
            .as_ref()
            .is_some_and(|l| l.epoch != current || !redis::ConnectionLike::is_open(l))
        {
            *link = None;
        }
    }

    /// Ends the cluster's green threads and takes this server's part of `/who` and `/rooms`
    /// out of Redis (its clients' nicks were released as they left).
    pub(super) fn stop(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        // The keeper first, so that it cannot write the state again; the subscriber last,
        // since Redis counts as away once it is gone.
        tasks.reverse();
        let mut tasks = tasks.into_iter();
        if let Some(keeper) = tasks.next() {
            keeper.cancel();
            let _ = keeper.join();
        }
        let _: RedisResult<()> = self.query(redis::cmd("DEL").arg(self.state_key()));
        let _: RedisResult<()> = self.query(redis::cmd("SREM").arg(servers_key()).arg(&self.id));
        for task in tasks {
            task.cancel();
            let _ = task.join();
        }
        self.up.store(false, Ordering::Release);
    }

    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Says that this server's clients changed, for the keeper.
    pub(super) fn changed(&self) {
        self.changed.set();
    }

    /// Queues a room line for the other servers. While Redis is away it is dropped at once;
    /// while the queue is full it waits up to `patience`, then is dropped and counted.
    pub(super) fn publish(&self, room: &Arc<str>, kind: Kind, line: &Arc<str>, patience: Duration) {
        if !self.is_up() {
            return;
        }
        let outgoing = Outgoing::Room {
            room: room.clone(),
            kind,
            line: line.clone(),
        };
        let queued = match self.outgoing.try_send(outgoing) {
            Ok(()) => true,
            Err(TrySendError::Full(outgoing)) => {
                match self.outgoing.send_timeout(outgoing, patience) {
                    Ok(()) => true,
                    Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => false,
                }
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        if !queued {
            self.count_dropped(1, "the publish queue stayed full");
        }
    }

    /// Queues a payload for one server's channel without waiting (a bounce).
    pub(super) fn publish_to(&self, server: &str, payload: Vec<u8>) {
        let outgoing = Outgoing::To {
            server: server.to_string(),
            payload,
        };
        if self.is_up() && self.outgoing.try_send(outgoing).is_err() {
            self.count_dropped(1, "the publish queue was full");
        }
    }

    fn count_dropped(&self, lines: u64, why: &str) {
        let before = self.dropped.fetch_add(lines, Ordering::Relaxed);
        // Logged at 1, 2, 4, 8, ... so that a long outage does not flood the log.
        if (before + lines).next_power_of_two() != before.next_power_of_two() || before == 0 {
            log::warn!(
                "cluster: {} line(s) so far reached this server only ({why})",
                before + lines
            );
        }
    }

    /// Runs one command on the command connection, connecting first if need be.
    ///
    /// # Errors
    ///
    /// At once while the subscriber finds Redis away or within a second of a failed command;
    /// otherwise when the command fails or takes longer than 2 s.
    pub(super) fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<T> {
        let away = || io::Error::new(io::ErrorKind::NotConnected, "redis is away").into();
        if !self.is_up() {
            return Err(away());
        }
        let mut commands = self.commands.lock();
        self.keep_current(&mut commands.link);
        if commands.link.is_none() {
            if commands
                .failed_at
                .is_some_and(|at| at.elapsed() < COMMAND_PAUSE)
            {
                return Err(away());
            }
            match self.connect() {
                Ok(link) => commands.link = Some(link),
                Err(err) => {
                    commands.failed_at = Some(Instant::now());
                    return Err(err);
                }
            }
        }
        let link = commands.link.as_mut().expect("connected above");
        let reply = cmd.query(link);
        if redis::ConnectionLike::is_open(link) {
            return reply;
        }
        commands.link = None;
        commands.failed_at = Some(Instant::now());
        reply
    }

    /// Claims `nick` for this server.
    pub(super) fn claim(&self, nick: &str) -> Claim {
        let claim = redis::cmd("EVAL")
            .arg(CLAIM)
            .arg(1)
            .arg(nick_key(nick))
            .arg(&self.id)
            .arg(self.ttl.as_millis() as u64)
            .clone();
        match self.query::<i64>(&claim) {
            Ok(1) => Claim::Ours,
            Ok(_) => Claim::Taken,
            Err(err) => {
                log::debug!("cluster: cannot claim {nick}: {err}");
                Claim::Unknown
            }
        }
    }

    /// Gives `nick` back, if this server holds it.
    pub(super) fn release(&self, nick: &str) {
        let release = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(nick_key(nick))
            .arg(&self.id)
            .clone();
        if let Err(err) = self.query::<i64>(&release) {
            log::debug!("cluster: cannot release {nick} (it expires by itself): {err}");
        }
    }

    /// The server whose client has `nick`.
    pub(super) fn locate(&self, nick: &str) -> RedisResult<Option<String>> {
        self.query(redis::cmd("GET").arg(nick_key(nick)))
    }

    /// Publishes `payload` on `server`'s channel now; returns how many servers heard it.
    pub(super) fn send_to(&self, server: &str, payload: &[u8]) -> RedisResult<i64> {
        self.query(
            redis::cmd("PUBLISH")
                .arg(server_channel(server))
                .arg(payload),
        )
    }

    /// A number for a new guest's nick, the same on no two servers.
    pub(super) fn guest_number(&self) -> RedisResult<u64> {
        self.query(redis::cmd("INCR").arg(format!("{PREFIX}:guests")))
    }

    /// What the other servers last wrote of their rooms: for each, room name to nicks.
    pub(super) fn other_servers(
        &self,
    ) -> RedisResult<Vec<serde_json::Map<String, serde_json::Value>>> {
        let mut servers: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(servers_key()))?;
        servers.retain(|server| *server != self.id);
        if servers.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = servers.iter().map(|s| state_key(s)).collect();
        let states: Vec<Option<String>> = self.query(redis::cmd("MGET").arg(&keys))?;
        let mut found = Vec::new();
        for (server, state) in servers.iter().zip(states) {
            match state.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()) {
                Some(serde_json::Value::Object(rooms)) => found.push(rooms),
                // Its state expired: the server is gone.
                _ => {
                    let _: RedisResult<i64> =
                        self.query(redis::cmd("SREM").arg(servers_key()).arg(server));
                }
            }
        }
        Ok(found)
    }

    fn state_key(&self) -> String {
        state_key(&self.id)
    }
}

fn spawn_named(name: &str, f: impl FnOnce() + 'static) -> greenhub::JoinHandle<()> {
    greenhub::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .unwrap_or_else(|err| panic!("cannot start the {name} green thread: {err}"))
}

fn nick_key(nick: &str) -> String {
    format!("{PREFIX}:nick:{}", crate::text::nick_key(nick))
}

fn state_key(server: &str) -> String {
    format!("{PREFIX}:state:{server}")
}

fn servers_key() -> String {
    format!("{PREFIX}:servers")
}

fn server_channel(server: &str) -> String {
    format!("{PREFIX}:to:{server}")
}
