//! The chat server. Each client gets a reader green thread (the sequential loop below: read a
//! line, act on it) and a writer green thread that drains the client's bounded outbound queue,
//! so a client that stops reading fills only its own queue, is told why, and is dropped.

use crate::command::{parse, Command, HELP};
use crate::deadline::{Deadlines, LINE_TIMEOUT};
use crate::framing::{Incoming, LineReader};
use crate::text::{nick_key, sanitize, validate_nick, validate_room};
use greenhub::net::{TcpListener, TcpStream};
use greenhub::sync::{bounded, Event, Sender, TrySendError, WaitGroup};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    /// Clients beyond this many are told the server is full and closed.
    pub max_clients: usize,
    /// Lines waiting for one client; a client whose queue fills (it stopped reading) is dropped.
    pub queue: usize,
    /// Messages per second per client (0: no limit).
    pub max_rate: u32,
    /// Rooms with more members than this stay quiet about joins, leaves and nick changes, as
    /// big IRC and Twitch channels do: otherwise every join into a room of n people costs n
    /// lines, and a crowd arriving at once floods every member's queue with notices.
    pub announce_limit: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_line: 4096,
            idle_timeout: Duration::from_secs(300),
            line_timeout: Duration::from_secs(30),
            max_clients: 10_000,
            queue: 256,
            max_rate: 20,
            announce_limit: 100,
        }
    }
}

struct Client {
    nick: String,
    room: String,
    outbox: Sender<Arc<str>>,
    stream: TcpStream,
}

#[derive(Default)]
struct State {
    clients: HashMap<u64, Client>,
    /// Nick keys (lower case) to client ids.
    nicks: HashMap<String, u64>,
    /// Room names to their members, so that a broadcast visits only the room.
    rooms: HashMap<String, HashSet<u64>>,
}

impl State {
    fn insert(&mut self, id: u64, client: Client) {
        self.nicks.insert(nick_key(&client.nick), id);
        self.rooms
            .entry(client.room.clone())
            .or_default()
            .insert(id);
        self.clients.insert(id, client);
    }

    fn remove(&mut self, id: u64) -> Option<Client> {
        let client = self.clients.remove(&id)?;
        self.nicks.remove(&nick_key(&client.nick));
        self.leave_room(&client.room, id);
        Some(client)
    }

    fn move_to(&mut self, id: u64, room: &str) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut client.room, room.to_string());
        self.leave_room(&old, id);
        self.rooms.entry(room.to_string()).or_default().insert(id);
    }

    fn leave_room(&mut self, room: &str, id: u64) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }
}

/// What a broadcast carries: a chat line always goes out, a notice only in small rooms.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Notice,
}

/// The acceptor's first and longest waits after a failed accept: `StreamServer`'s.
const MIN_BACKOFF: Duration = greenhub::StreamServer::MIN_BACKOFF;
const MAX_BACKOFF: Duration = greenhub::StreamServer::MAX_BACKOFF;

/// The writer sends whatever is already queued in one write of up to this many bytes.
const WRITE_BATCH: usize = 16 * 1024;

struct Server {
    config: Config,
    state: Mutex<State>,
    next_id: AtomicU64,
}

/// Runs the chat server on `listener` until `shutdown` is set; then every client gets a
/// shutdown notice, queues are flushed, and `serve` returns. Call it from a green thread.
///
/// # Errors
///
/// Only when the listener fails for good; client errors end that client, not the server.
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
    let server = Arc::new(Server {
        config,
        state: Mutex::default(),
        next_id: AtomicU64::new(1),
    });
    let sessions = WaitGroup::new();
    let acceptor = {
        let (server, sessions, listener) =
            (server.clone(), sessions.clone(), listener.try_clone()?);
        greenhub::spawn(move || -> io::Result<()> {
            let mut backoff = MIN_BACKOFF;
            loop {
                let (stream, peer) = match listener.accept() {
                    Ok(accepted) => {
                        backoff = MIN_BACKOFF;
                        accepted
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                    Err(e) => {
                        // Out of descriptors (EMFILE) or memory: waiting clients stay in the
                        // listen backlog while existing ones keep chatting; retry ever more
                        // slowly instead of spinning on an error that repeats at once.
                        log::warn!("accept failed: {e}; retrying in {backoff:?}");
                        greenhub::sleep(backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                };
                let (server, member) = (server.clone(), sessions.clone());
                greenhub::spawn(move || {
                    if let Err(err) = server.session(stream) {
                        log::debug!("client {peer}: {err}");
                    }
                    drop(member);
                });
            }
        })
    };
    shutdown.wait();
    log::info!("shutting down");
    listener.close()?;
    acceptor.cancel();
    let _ = acceptor.join();
    server.shut_everyone_down();
    if !sessions.wait_timeout(Duration::from_secs(5)) {
        log::warn!("some clients did not finish within 5 s of shutdown");
    }
    Ok(())
}

fn line(text: impl Into<String>) -> Arc<str> {
    let mut text = text.into();
    text.push('\n');
    text.into()
}

impl Server {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ANCHOR: session
    /// One client, from welcome to goodbye: plain sequential code.
    fn session(self: &Arc<Self>, stream: TcpStream) -> io::Result<()> {
        // Chat lines are small and must go out at once, not wait for Nagle's algorithm to
        // collect more behind an unacknowledged one (a 40 ms stall on delayed ACKs).
        stream.set_nodelay(true)?;
        let (outbox, queue) = bounded::<Arc<str>>(self.config.queue);
        let writer_stream = stream.try_clone()?;
        let writer = greenhub::spawn(move || {
            let mut out = writer_stream;
            for first in queue.iter() {
                // Lines that queued up while this writer waited go out in one system call. The
                // batch buffer lives only while there is a backlog: an idle client holds none.
                let written = match queue.try_recv() {
                    Err(_) => out.write_all(first.as_bytes()),
                    Ok(second) => {
                        let mut batch = Vec::with_capacity(WRITE_BATCH);
                        batch.extend_from_slice(first.as_bytes());
                        batch.extend_from_slice(second.as_bytes());
                        while batch.len() < WRITE_BATCH {
                            let Ok(next) = queue.try_recv() else { break };
                            batch.extend_from_slice(next.as_bytes());
                        }
                        out.write_all(&batch)
                    }
                };
                if written.is_err() {
                    break;
                }
            }
        });
        let Some((id, nick)) = self.join(outbox.clone(), stream.try_clone()?) else {
            let _ = outbox.send(line("!!! server full, try again later; closing"));
            drop(outbox);
            let _ = writer.join();
            return Ok(());
        };
        log::info!("{nick} joined from {}", stream.peer_addr()?);
        let _ = outbox.send(line(format!(
            "*** welcome! you are {nick}, in room {LOBBY}. {HELP}"
        )));
        self.tell_room(
            LOBBY,
            Some(id),
            Kind::Notice,
            line(format!("*** {nick} joined {LOBBY}")),
        );

        let reads = Deadlines::new(&stream, self.config.idle_timeout, self.config.line_timeout);
        let mut lines = LineReader::new(reads, self.config.max_line);
        let mut rate = RateLimit::new(self.config.max_rate);
        let result = loop {
            let incoming = match lines.next_line() {
                Ok(Some(incoming)) => incoming,
                Ok(None) => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = outbox.send(line(if e.to_string() == LINE_TIMEOUT {
                        "!!! a line took too long to arrive; disconnecting"
                    } else {
                        "!!! idle for too long; disconnecting"
                    }));
                    break Ok(());
                }
                Err(e) => break Err(e),
            };
            let reply = match incoming {
                Incoming::TooLong => Some(format!(
                    "!!! line too long (max {} bytes); discarded",
                    self.config.max_line
                )),
                Incoming::InvalidUtf8 => {
                    Some("!!! that line is not valid UTF-8; discarded".to_string())
                }
                Incoming::Line(text) if !rate.allow() => {
                    let _ = text;
                    Some("!!! slow down: too many messages; this one was dropped".to_string())
                }
                Incoming::Line(text) => match self.act(id, parse(&text)) {
                    Some(Reply::Quit) => break Ok(()),
                    Some(Reply::Tell(text)) => Some(text),
                    None => None,
                },
            };
            if let Some(reply) = reply {
                if outbox.try_send(line(reply)).is_err() {
                    break Ok(()); // its own queue is full: it stopped reading
                }
            }
        };
        self.leave(id);
        drop(outbox); // the writer flushes what is queued, then ends
        let _ = writer.join();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        result
    }
    // ANCHOR_END: session

    /// Registers a new client as guest-N in the lobby, unless the server is full.
    fn join(&self, outbox: Sender<Arc<str>>, stream: TcpStream) -> Option<(u64, String)> {
        let mut state = self.state();
        if state.clients.len() >= self.config.max_clients {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut n = id;
        let nick = loop {
            let candidate = format!("guest-{n}");
            if !state.nicks.contains_key(&nick_key(&candidate)) {
                break candidate;
            }
            n += 1_000_000;
        };
        state.insert(
            id,
            Client {
                nick: nick.clone(),
                room: LOBBY.into(),
                outbox,
                stream,
            },
        );
        Some((id, nick))
    }

    fn leave(&self, id: u64) {
        let removed = self.state().remove(id);
        if let Some(client) = removed {
            log::info!("{} left", client.nick);
            self.tell_room(
                &client.room,
                Some(id),
                Kind::Notice,
                line(format!("*** {} left {}", client.nick, client.room)),
            );
        }
    }

    // ANCHOR: tell_room
    /// Queues `message` for everyone in `room` but `except` (notices only while the room is
    /// small). A client whose queue is full is dropped (told why, best effort) so that nobody
    /// else waits for it.
    fn tell_room(&self, room: &str, except: Option<u64>, kind: Kind, message: Arc<str>) {
        let (mut too_slow, mut backlogged) = (Vec::new(), false);
        {
            let state = self.state();
            let Some(members) = state.rooms.get(room) else {
                return;
            };
            if kind == Kind::Notice && members.len() > self.config.announce_limit {
                return;
            }
            for id in members {
                if Some(*id) == except {
                    continue;
                }
                let Some(client) = state.clients.get(id) else {
                    continue;
                };
                match client.outbox.try_send(message.clone()) {
                    Err(TrySendError::Full(_)) => too_slow.push(*id),
                    Ok(()) if client.outbox.len() * 2 >= self.config.queue => backlogged = true,
                    _ => {}
                }
            }
        }
        for id in too_slow {
            self.drop_slow_client(id);
        }
        if backlogged {
            // Let the writers drain before this reader broadcasts again. Without this, the
            // readers woken together by one poll could each broadcast before any writer ran
            // and overflow every queue in the room. Yielding only under backlog lets writers
            // that run later send several lines in one write.
            greenhub::yield_now();
        }
    }
    // ANCHOR_END: tell_room

    fn drop_slow_client(&self, id: u64) {
        let Some(client) = self.state().remove(id) else {
            return;
        };
        log::info!("{} dropped: its outbound queue is full", client.nick);
        self.tell_room(
            &client.room,
            Some(id),
            Kind::Notice,
            line(format!(
                "*** {} left {} (too slow)",
                client.nick, client.room
            )),
        );
        // Tell it why, without letting this wait slow anyone: in a green thread of its own.
        greenhub::spawn(move || {
            let stream = client.stream;
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = (&stream)
                .write_all(b"!!! you stopped reading and your queue filled up; disconnecting\n");
            let _ = stream.close();
        });
    }

    fn shut_everyone_down(&self) {
        let clients: Vec<(Sender<Arc<str>>, TcpStream)> = {
            let state = self.state();
            state
                .clients
                .values()
                .filter_map(|c| Some((c.outbox.clone(), c.stream.try_clone().ok()?)))
                .collect()
        };
        let notice = line("*** server shutting down; goodbye");
        for (outbox, stream) in clients {
            let _ = outbox.try_send(notice.clone());
            // Ending the read side ends the session; its writer flushes the queue first.
            let _ = stream.shutdown(std::net::Shutdown::Read);
        }
    }

    fn act(&self, id: u64, command: Command) -> Option<Reply> {
        let tell = |text: String| Some(Reply::Tell(text));
        let (nick, room) = {
            let state = self.state();
            let client = state.clients.get(&id)?;
            (client.nick.clone(), client.room.clone())
        };
        match command {
            Command::Say(text) => {
                let text = sanitize(&text);
                if !text.trim().is_empty() {
                    self.tell_room(
                        &room,
                        Some(id),
                        Kind::Chat,
                        line(format!("<{nick}> {text}")),
                    );
                }
                None
            }
            Command::Me(action) => {
                self.tell_room(
                    &room,
                    Some(id),
                    Kind::Chat,
                    line(format!("* {nick} {}", sanitize(&action))),
                );
                None
            }
            Command::Nick(wanted) => match self.rename(id, &wanted) {
                Ok(()) => {
                    self.tell_room(
                        &room,
                        Some(id),
                        Kind::Notice,
                        line(format!("*** {nick} is now known as {wanted}")),
                    );
                    tell(format!("*** you are now {wanted}"))
                }
                Err(why) => tell(format!("!!! {why}")),
            },
            Command::Join(target) => {
                if let Err(why) = validate_room(&target) {
                    return tell(format!("!!! {why}"));
                }
                if target == room {
                    return tell(format!("*** you are already in {room}"));
                }
                self.state().move_to(id, &target);
                self.tell_room(
                    &room,
                    Some(id),
                    Kind::Notice,
                    line(format!("*** {nick} left {room}")),
                );
                self.tell_room(
                    &target,
                    Some(id),
                    Kind::Notice,
                    line(format!("*** {nick} joined {target}")),
                );
                tell(format!("*** you are now in {target}"))
            }
            Command::Rooms => {
                let mut list: Vec<String> = self
                    .state()
                    .rooms
                    .iter()
                    .map(|(r, members)| format!("{r} ({})", members.len()))
                    .collect();
                list.sort();
                tell(format!("*** rooms: {}", list.join(", ")))
            }
            Command::Who => {
                let state = self.state();
                let members = state.rooms.get(&room).into_iter().flatten();
                let mut nicks: Vec<String> = members
                    .filter_map(|id| Some(state.clients.get(id)?.nick.clone()))
                    .collect();
                drop(state);
                nicks.sort();
                tell(format!("*** in {room}: {}", nicks.join(", ")))
            }
            Command::Msg { to, text } => {
                let target = {
                    let state = self.state();
                    state
                        .nicks
                        .get(&nick_key(&to))
                        .and_then(|tid| state.clients.get(tid))
                        .map(|c| c.outbox.clone())
                };
                match target {
                    Some(outbox) => {
                        let _ =
                            outbox.try_send(line(format!("[pm from {nick}] {}", sanitize(&text))));
                        None
                    }
                    None => tell(format!("!!! no one is called {}", sanitize(&to))),
                }
            }
            Command::Help => tell(format!("*** {HELP}")),
            Command::Quit => Some(Reply::Quit),
            Command::Invalid(why) => tell(format!("!!! {why}")),
        }
    }

    fn rename(&self, id: u64, wanted: &str) -> Result<(), String> {
        validate_nick(wanted).map_err(|e| e.to_string())?;
        let mut state = self.state();
        let key = nick_key(wanted);
        match state.nicks.get(&key) {
            Some(owner) if *owner != id => return Err(format!("{wanted} is taken")),
            _ => {}
        }
        let old = state
            .clients
            .get(&id)
            .map(|c| nick_key(&c.nick))
            .ok_or("you are not connected")?;
        state.nicks.remove(&old);
        state.nicks.insert(key, id);
        if let Some(client) = state.clients.get_mut(&id) {
            client.nick = wanted.to_string();
        }
        Ok(())
    }
}

enum Reply {
    Tell(String),
    Quit,
}

/// A token bucket: `rate` messages per second, bursts of up to `rate`.
struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: u32) -> RateLimit {
        RateLimit {
            rate: rate as f64,
            tokens: rate as f64,
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
