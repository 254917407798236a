//! The chat server. Each client gets a reader green thread (the sequential loop of
//! `session.rs`: read a line, act on it) and a writer green thread that drains the client's
//! bounded outbound queue (`writer.rs`). Clients are spread over every hub of the runtime by
//! greenhub's [`StreamServer`]; rooms span hubs (`fanout.rs`), and only arrivals, departures
//! and renames touch the state all hubs share (`directory.rs`).
//!
//! ```text
//!            StreamServer: one SO_REUSEPORT listener per hub (or one acceptor handing out)
//!               │                                  │
//!   hub 0: sessions ─ line ─► outboxes on hub 0    hub 1: sessions, outboxes, fan-out
//!               └──── one envelope per line ──────────► fan-out of hub 1 ─► outboxes on hub 1
//!   directory (one lock): nicks, rooms, head counts per hub; taken on join/leave/rename only
//! ```
//!
//! Browsers reach the same rooms through a second port (`web/`): a page, and a WebSocket whose
//! session is the same sequential loop with another framing. Either port can speak TLS.
//!
//! A client is dropped as too slow only when its queue is full *and* its socket has accepted
//! nothing for [`Config::slow_grace`]; a burst that the kernel's buffers can absorb drops nobody.
//!
//! With [`Config::cluster`], several such servers share rooms, nicks, `/who`, `/rooms` and
//! `/msg` through Redis pub/sub (`cluster/`): a room line leaves through one publisher per
//! server and arrives through a subscriber that delivers like a hub's fan-out.

mod admission;
mod cluster;
mod connection;
mod directory;
mod fanout;
mod listen;
mod listing;
mod outbox;
mod session;
mod throttle;
mod web;
mod writer;

pub use listen::Options;
pub use web::WebLimits;

use admission::Admissions;
pub use cluster::ClusterConfig;
use connection::Connection;
use directory::{Directory, Room};
use fanout::{Rooms, TimeSlice};
use greenhub::net::{TcpListener, TcpStream, ToSocketAddrs};
use greenhub::sync::Event;
use greenhub::{ServerHandle, StreamServer};
use listen::{stream_server, Handler};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The room everyone starts in.
pub const LOBBY: &str = "lobby";

/// Limits, each configurable from the command line of `chat-server`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The longest line accepted, in bytes; longer ones are discarded with an error.
    pub max_line: usize,
    /// A client that sends nothing for this long is disconnected.
    pub idle_timeout: Duration,
    /// A line must arrive whole within this long of its first byte, or the client is
    /// disconnected: one byte a second does not keep a connection alive.
    pub line_timeout: Duration,
    /// Clients beyond this many are told the server is full and closed. A client counts until
    /// its socket is closed, not just until it leaves the rooms.
    pub max_clients: usize,
    /// Connections from one IP address beyond this many are told so and closed (0: no limit).
    pub max_per_ip: usize,
    /// Connections one IP address may open in a burst before its connect rate applies.
    pub connect_burst: u32,
    /// Connections one IP address may open a minute once its burst is spent; the rest are told
    /// so and closed (0: no limit).
    pub connects_per_minute: u32,
    /// Lines waiting for one client. A full queue alone drops nobody: room lines wait for
    /// room (see `slow_grace`), private messages are refused to their sender.
    pub queue: usize,
    /// Bytes waiting for one client (IRC's "sendq"), whichever of this and `queue` fills
    /// first; a single line longer than this still goes into an empty queue.
    pub sendq_bytes: usize,
    /// A client whose queue is full and whose socket has accepted nothing for this long is
    /// dropped as too slow (told why, best effort). A client that never reads is therefore
    /// dropped within this long (plus a quarter of it, the writer's wake-up period) of its
    /// kernel buffers and its queue filling; until then, lines for it wait, so this is also
    /// the longest one stuck client can hold up its room, once.
    pub slow_grace: Duration,
    /// The kernel's send buffer for each client, in bytes (`SO_SNDBUF`; Linux doubles it), or
    /// `None` to leave it to the kernel's autotuning, which grows it up to the maximum of
    /// `net.ipv4.tcp_wmem` (4 MiB by default) even for a client that reads nothing. A cap
    /// bounds what a stuck client holds in the kernel and how much it must be sent before
    /// its socket stops accepting.
    pub send_buffer: Option<usize>,
    /// Lines per second per client, in bursts of as many; `/who` and `/rooms` count as 5,
    /// `/msg` as 2. A client over its rate is slowed down (its next line waits), not cut
    /// off. 0 turns flood control off, bytes included.
    pub max_rate: u32,
    /// Bytes per second per client, in bursts of twice as many (or of two longest lines).
    pub max_byte_rate: u32,
    /// Rooms with more members than this stay quiet about joins, leaves and nick changes, as
    /// big IRC and Twitch channels do: otherwise every join into a room of n people costs n
    /// lines, and a crowd arriving at once floods every member's queue with notices.
    pub announce_limit: usize,
    /// Limits of the web port (request heads, WebSocket messages, keep-alive).
    pub web: WebLimits,
    /// Other servers to share rooms, nicks and private messages with through Redis (see
    /// [`ClusterConfig`]); `None` (the default) serves on this process alone.
    pub cluster: Option<ClusterConfig>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_line: 4096,
            idle_timeout: Duration::from_secs(300),
            line_timeout: Duration::from_secs(30),
            max_clients: 10_000,
            max_per_ip: 10,
            connect_burst: 20,
            connects_per_minute: 30,
            queue: 256,
            sendq_bytes: 256 * 1024,
            slow_grace: Duration::from_millis(500),
            send_buffer: None,
            max_rate: 20,
            max_byte_rate: 8 * 1024,
            announce_limit: 100,
            web: WebLimits::default(),
            cluster: None,
        }
    }
}

impl Config {
    /// This configuration without the per-address limits (`max_per_ip`, the connect rate):
    /// for load tests and benches, whose thousands of clients all come from 127.0.0.1.
    ///
    /// # Examples
    ///
    /// ```
    /// use chat_demo::server::Config;
    /// let config = Config::default().without_address_limits();
    /// assert_eq!((config.max_per_ip, config.connects_per_minute), (0, 0));
    /// assert_eq!(config.max_clients, Config::default().max_clients);
    /// ```
    pub fn without_address_limits(self) -> Config {
        Config {
            max_per_ip: 0,
            connects_per_minute: 0,
            ..self
        }
    }
}

/// What a broadcast carries: a chat line always goes out, a notice only in small rooms.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Chat,
    Notice,
}

/// Connections beyond `max_clients` that may be open at once just to be told the server is
/// full; more wait in the listen backlog (`StreamServer`'s connection limit) instead of
/// costing descriptors.
const FULL_NOTICES: usize = 32;

/// How long the sessions get to say goodbye and flush at shutdown before they are cancelled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every session, on every hub, shares.
struct Chat {
    config: Config,
    /// Every limit on who may come in, held by each connection until its socket is closed.
    admissions: Arc<Admissions>,
    directory: Mutex<Directory>,
    rooms: Arc<Rooms>,
    /// The other servers, when there are any.
    cluster: Option<Arc<cluster::Cluster>>,
    /// Sessions each hub has run, for [`ChatServer::sessions_per_hub`].
    sessions: Vec<AtomicU64>,
}

/// A running chat server: sessions on every hub of the runtime it was started in.
///
/// # Examples
///
/// ```no_run
/// use chat_demo::server::{ChatServer, Config};
/// greenhub::Runtime::builder().hubs(2).build()?.run(|| -> std::io::Result<()> {
///     let server = ChatServer::bind("127.0.0.1:7878", Config::default())?;
///     println!("listening on {}", server.local_addr());
///     let shutdown = greenhub::sync::Event::new();
///     server.run_until(&shutdown); // until someone sets `shutdown`
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ChatServer {
    server: ServerHandle,
    web: Option<ServerHandle>,
    chat: Arc<Chat>,
}

impl ChatServer {
    /// Binds `addr` and serves on every hub; on Linux each hub accepts on its own
    /// `SO_REUSEPORT` listener, so no connection crosses hubs. Call it from a green thread.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn bind<A: ToSocketAddrs>(addr: A, config: Config) -> io::Result<ChatServer> {
        ChatServer::bind_with(addr, config, Options::default())
    }

    /// As [`bind`](Self::bind), with TLS or the web port as `options` say. With TLS, one
    /// acceptor hands the clients to the hubs (each client's handshake runs on its own hub).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn bind_with<A: ToSocketAddrs>(
        addr: A,
        config: Config,
        options: Options,
    ) -> io::Result<ChatServer> {
        match options.tls {
            None => ChatServer::start(
                config,
                |handler| {
                    StreamServer::bind(addr, move |tcp: TcpStream, peer| {
                        handler(Connection::Plain(tcp), peer)
                    })
                },
                options,
            ),
            Some(_) => ChatServer::from_listener_with(TcpListener::bind(addr)?, config, options),
        }
    }

    /// Serves on a listener bound elsewhere (port 0 in tests): one acceptor hands the clients
    /// to the hubs in turn. Call it from a green thread.
    ///
    /// # Errors
    ///
    /// When the listener's address cannot be read.
    pub fn from_listener(listener: TcpListener, config: Config) -> io::Result<ChatServer> {
        ChatServer::from_listener_with(listener, config, Options::default())
    }

    /// As [`from_listener`](Self::from_listener), with TLS or the web port as `options` say.
    ///
    /// # Errors
    ///
    /// When a listener's address cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use chat_demo::server::{ChatServer, Config, Options};
    /// use greenhub::net::TcpListener;
    /// greenhub::run(|| -> std::io::Result<()> {
    ///     let web = TcpListener::bind("127.0.0.1:0")?;
    ///     let web_addr = web.local_addr()?;
    ///     let options = Options { web: Some(web), ..Options::default() };
    ///     let line = TcpListener::bind("127.0.0.1:0")?;
    ///     let server = ChatServer::from_listener_with(line, Config::default(), options)?;
    ///     assert_eq!(server.web_addr(), Some(web_addr));
    ///     let shutdown = greenhub::sync::Event::new();
    ///     shutdown.set();
    ///     server.run_until(&shutdown);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_listener_with(
        listener: TcpListener,
        config: Config,
        options: Options,
    ) -> io::Result<ChatServer> {
        let tls = options.tls.clone();
        ChatServer::start(
            config,
            |handler| Ok(stream_server(listener, tls, handler)),
            options,
        )
    }

    fn start(
        config: Config,
        server: impl FnOnce(Handler) -> io::Result<StreamServer>,
        options: Options,
    ) -> io::Result<ChatServer> {
        let hubs = greenhub::hub_count().unwrap_or(1);
        let limit = config.max_clients.saturating_add(FULL_NOTICES);
        let cluster = match &config.cluster {
            Some(cluster) => Some(cluster::Cluster::new(cluster)?),
            None => None,
        };
        let chat = Arc::new(Chat {
            cluster,
            rooms: Rooms::start(),
            admissions: Admissions::new(&config),
            config,
            directory: Mutex::new(Directory::new(hubs)),
            sessions: (0..hubs).map(|_| AtomicU64::new(0)).collect(),
        });
        if let Some(cluster) = &chat.cluster {
            cluster.start(&chat);
        }
        let sessions = chat.clone();
        let handler: Handler = Arc::new(move |stream: Connection, peer: SocketAddr| {
            let admitted = match sessions.admissions.admit(peer.ip()) {
                Ok(admission) => admission,
                Err(refusal) => {
                    sessions.refuse(&stream, refusal);
                    return;
                }
            };
            if let Err(err) = sessions.session(stream, session::Transport::Lines) {
                log::debug!("client {peer}: {err}");
            }
            // The session has closed its socket: only now is its place free.
            drop(admitted);
        });
        let browsers = chat.clone();
        let web_handler: Handler = Arc::new(move |stream, peer| browsers.browser(stream, peer));
        let started = server(handler)
            .and_then(|server| server.max_connections(limit).on_all_hubs().start())
            .and_then(|server| {
                let Some(listener) = options.web else {
                    return Ok((server, None));
                };
                let web = stream_server(listener, options.tls, web_handler)
                    .max_connections(limit)
                    .on_all_hubs()
                    .start();
                match web {
                    Ok(web) => Ok((server, Some(web))),
                    Err(err) => {
                        server.stop(Duration::ZERO);
                        Err(err)
                    }
                }
            });
        match started {
            Ok((server, web)) => Ok(ChatServer { server, web, chat }),
            Err(err) => {
                if let Some(cluster) = &chat.cluster {
                    cluster.stop();
                }
                chat.rooms.stop();
                Err(err)
            }
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The address of the web port, if there is one (see
    /// [`from_listener_with`](Self::from_listener_with) for an example).
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web.as_ref().map(ServerHandle::local_addr)
    }

    /// How many sessions each hub has run so far, by hub index: a count that only grows,
    /// which shows how the clients were spread.
    ///
    /// # Examples
    ///
    /// ```
    /// use chat_demo::server::{ChatServer, Config};
    /// greenhub::Runtime::builder().hubs(2).build()?.run(|| -> std::io::Result<()> {
    ///     let server = ChatServer::bind("127.0.0.1:0", Config::default())?;
    ///     assert_eq!(server.sessions_per_hub(), [0, 0]);
    ///     let shutdown = greenhub::sync::Event::new();
    ///     shutdown.set();
    ///     server.run_until(&shutdown);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sessions_per_hub(&self) -> Vec<u64> {
        let sessions = &self.chat.sessions;
        sessions.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    /// Serves until `shutdown` is set; then every client gets a shutdown notice, queues are
    /// flushed (for up to 5 s), and this returns.
    pub fn run_until(self, shutdown: &Event) {
        shutdown.wait();
        log::info!("shutting down");
        self.chat.shut_everyone_down();
        let mut cancelled = self.server.stop(SHUTDOWN_GRACE);
        if let Some(web) = self.web {
            cancelled += web.stop(SHUTDOWN_GRACE);
        }
        if cancelled > 0 {
            log::warn!(
                "{cancelled} client(s) did not finish within {SHUTDOWN_GRACE:?} of shutdown"
            );
        }
        if let Some(cluster) = &self.chat.cluster {
            cluster.stop();
        }
        self.chat.rooms.stop();
    }
}

/// Runs the chat server on `listener`, with sessions on every hub, until `shutdown` is set;
/// then every client gets a shutdown notice, queues are flushed, and `serve` returns. Call it
/// from a green thread.
///
/// # Errors
///
/// When the listener's address cannot be read; client errors end that client, not the
/// server, and accept errors (out of descriptors) are waited out.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// greenhub::run(|| -> std::io::Result<()> {
///     let listener = greenhub::net::TcpListener::bind("127.0.0.1:7878")?;
///     let shutdown = Arc::new(greenhub::sync::Event::new());
///     chat_demo::server::serve(listener, chat_demo::server::Config::default(), shutdown)
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve(listener: TcpListener, config: Config, shutdown: Arc<Event>) -> io::Result<()> {
    ChatServer::from_listener(listener, config)?.run_until(&shutdown);
    Ok(())
}

fn line(text: impl Into<String>) -> Arc<str> {
    let mut text = text.into();
    text.push('\n');
    text.into()
}

impl Chat {
    /// Tells a connection that may not come in why, within `slow_grace`, before the close.
    fn refuse(&self, stream: &Connection, refusal: &str) {
        use std::io::Write;
        let _ = stream.set_write_timeout(Some(self.config.slow_grace));
        let _ = (&*stream).write_all(refusal.as_bytes());
        let _ = (&*stream).flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `message` for everyone in `room` but `except` (notices only while the room is
    /// small); returns whether some queue is backing up (see [`TimeSlice::take_turns`]).
    fn tell_room(&self, room: &Arc<Room>, except: u64, kind: Kind, message: Arc<str>) -> bool {
        if kind == Kind::Notice && room.size() > self.config.announce_limit {
            return false;
        }
        if let Some(cluster) = &self.cluster {
            cluster.publish(&room.name, kind, &message, self.config.slow_grace);
        }
        self.rooms.broadcast(room, except, message)
    }

    /// Closes the door, tells everyone goodbye and ends their reads; each session then
    /// leaves, and its writer flushes the notice.
    fn shut_everyone_down(&self) {
        let clients: Vec<_> = {
            let mut directory = self.directory();
            directory.closing = true;
            directory
                .clients
                .values()
                .map(|c| (c.outbox.clone(), c.stream.clone()))
                .collect()
        };
        let notice = line("*** server shutting down; goodbye");
        for (outbox, stream) in clients {
            let _ = outbox.try_send(notice.clone());
            let _ = stream.shutdown(std::net::Shutdown::Read);
        }
    }
}
