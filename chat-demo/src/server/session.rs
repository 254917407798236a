//! One client, from welcome to goodbye: a reader green thread running the plain sequential loop
//! below (read a line, act on it), beside the writer green thread of `writer.rs`. The session
//! keeps what it needs for every line (its id, nick and room) to itself, so a chat line asks
//! the shared directory nothing.
//!
//! The loop does not know whether its lines come from nc or from a browser: a [`Transport`]
//! picks the reader (lines, or WebSocket messages through `web/`) and the writer's framing,
//! and everything else (rooms, commands, queue, limits, the slow-reader rule) is the same.

use super::connection::Connection;
use super::directory::Room;
use super::outbox::{outbox, Outbox};
use super::throttle::{cost, Throttle};
use super::web::{self, Control, MessageReader};
use super::writer::{Framing, Writer};
use super::{line, Chat, Kind, TimeSlice, LOBBY};
use crate::command::{parse, Command, HELP};
use crate::deadline::{Deadlines, LINE_TIMEOUT};
use crate::framing::{Incoming, LineReader};
use crate::text::{room_key, sanitize, validate_nick, validate_room};
use greenhub::sync::TrySendError;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The client as its own session sees it.
struct Me {
    id: u64,
    nick: String,
    room: Arc<Room>,
    /// The hub serving this client: its members of each room are listed there.
    hub: usize,
    outbox: Outbox,
    /// Set when a broadcast left some queue half full: the loop then lets the writers run.
    backlogged: bool,
}

// ANCHOR: transport
/// How a client's lines travel.
pub(super) enum Transport {
    /// Text lines, as from nc or telnet.
    Lines,
    /// WebSocket text messages, from a browser; the bytes read past the upgrade request.
    WebSocket(Vec<u8>),
}

/// Where the session loop gets its lines: a [`LineReader`] or a browser's [`MessageReader`].
enum Reader<'a> {
    Lines(LineReader<Deadlines<'a, Connection>>),
    WebSocket(Box<MessageReader<'a>>),
}

impl Reader<'_> {
    fn next_line(&mut self) -> io::Result<Option<Incoming>> {
        match self {
            Reader::Lines(lines) => lines.next_line(),
            Reader::WebSocket(messages) => messages.next_line(),
        }
    }
}
// ANCHOR_END: transport

/// What a command asks of the session loop.
enum Reply {
    Tell(String),
    Quit,
}

impl Chat {
    // ANCHOR: session
    /// One client, from welcome to goodbye: plain sequential code.
    pub(super) fn session(
        self: &Arc<Self>,
        stream: Connection,
        transport: Transport,
    ) -> io::Result<()> {
        // Chat lines are small and must go out at once, not wait for Nagle's algorithm to
        // collect more behind an unacknowledged one (a 40 ms stall on delayed ACKs).
        stream.tcp().set_nodelay(true)?;
        if let Some(bytes) = self.config.send_buffer {
            socket2::SockRef::from(stream.tcp()).set_send_buffer_size(bytes)?;
        }
        // The reader and the writer share the socket (each waits in its own direction), and
        // the directory keeps it to end the session at shutdown: one descriptor per client.
        let stream = Arc::new(stream);
        let (outbox, queue) = outbox(self.config.queue, self.config.sendq_bytes);
        let mut me = match self.enter(&outbox, &stream) {
            Ok(me) => me,
            Err(refusal) => {
                stream.set_write_timeout(Some(self.config.slow_grace))?;
                // No writer runs yet: this green thread is the only one writing.
                let mut refusal = refusal.as_bytes().to_vec();
                if let Transport::WebSocket(_) = transport {
                    let text = String::from_utf8_lossy(&refusal).into_owned();
                    refusal = web::text_frame(&text);
                    refusal.extend(web::close_frame(web::GOING_AWAY, ""));
                }
                (&*stream).write_all(&refusal)?;
                return (&*stream).flush();
            }
        };
        self.sessions[me.hub].fetch_add(1, Ordering::Relaxed);
        let browser = matches!(transport, Transport::WebSocket(_));
        // Only a browser's reader and writer share a `Control`; a line client has none.
        let control = browser.then(|| Arc::new(Control::new(self.config.web.ping_interval)));
        let framing = match &control {
            None => Framing::Lines,
            Some(control) => Framing::WebSocket(control.clone()),
        };
        let writer = Writer::start(stream.clone(), queue, self.config.slow_grace, framing);
        log::info!(
            "{} joined from {} (hub {}{})",
            me.nick,
            stream.tcp().peer_addr()?,
            me.hub,
            if browser { ", browser" } else { "" }
        );
        let _ = outbox.send(line(format!(
            "*** welcome! you are {}, in room {LOBBY}. {HELP}",
            me.nick
        )));
        if self
            .cluster
            .as_ref()
            .is_some_and(|cluster| !cluster.is_up())
        {
            let _ = outbox.send(line(super::cluster::LINK_DOWN));
        }
        let joined = line(format!("*** {} joined {LOBBY}", me.nick));
        let _ = self.tell_room(&me.room, me.id, Kind::Notice, joined);

        // Readers take turns with the writers they fill and with each other: without this,
        // the readers woken together by one poll could each broadcast before any writer ran.
        let mut slice = TimeSlice::new();
        let mut lines = match (transport, control) {
            (Transport::WebSocket(leftover), Some(control)) => Reader::WebSocket(Box::new(
                MessageReader::new(&stream, leftover, control, outbox.clone(), &self.config),
            )),
            // Lines (a browser always has its `control`).
            _ => {
                let reads =
                    Deadlines::new(&*stream, self.config.idle_timeout, self.config.line_timeout);
                Reader::Lines(LineReader::new(reads, self.config.max_line))
            }
        };
        let mut throttle = self.throttle();
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
                Incoming::Line(text) => {
                    let command = parse(&text);
                    // Fakelag: a client over its rates waits here, before its line is acted
                    // on; what it sends meanwhile waits in its own buffers.
                    let charge = throttle.charge(cost(&command), text.len());
                    if charge.first_delayed {
                        let notice =
                            "*** slow down: you are sending too fast; your lines are delayed";
                        if outbox.send(line(notice)).is_err() {
                            break Ok(());
                        }
                    }
                    if !charge.delay.is_zero() {
                        greenhub::sleep(charge.delay);
                        throttle.slept();
                    }
                    match self.act(&mut me, command) {
                        Some(Reply::Quit) => break Ok(()),
                        Some(Reply::Tell(text)) => Some(text),
                        None => None,
                    }
                }
            };
            if let Some(reply) = reply {
                // Waits while its own queue is full; fails once its writer gave up on it.
                if outbox.send(line(reply)).is_err() {
                    break Ok(());
                }
            }
            slice.take_turns(std::mem::take(&mut me.backlogged));
        };
        self.leave(&me, writer.found_it_too_slow());
        // The writer flushes what is queued, then ends (a browser's reader holds a sender).
        drop((me, outbox, lines));
        writer.finish();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        result
    }
    // ANCHOR_END: session

    /// Registers a new client as guest-N in the lobby, unless the server is full or closing;
    /// then the error is the line to tell it.
    fn enter(&self, outbox: &Outbox, stream: &Arc<Connection>) -> Result<Me, &str> {
        let hub = greenhub::current_hub().unwrap_or(0);
        // With other servers, a guest nick none of them gives out (this parks: before the lock).
        let guest = self.cluster_guest_nick();
        let mut directory = self.directory();
        if directory.closing {
            return Err("*** server shutting down; goodbye\n");
        }
        let (id, nick, room) = directory.join(hub, outbox.clone(), stream.clone(), guest);
        // Listed on its hub before anything can park: a line for the lobby that another hub
        // sends after seeing the new head count finds this member there.
        self.rooms.add(hub, &room, id, outbox.clone());
        self.clients_changed();
        Ok(Me {
            id,
            nick,
            room,
            hub,
            outbox: outbox.clone(),
            backlogged: false,
        })
    }

    /// A new client's flood control: `max_rate` lines and `max_byte_rate` bytes a second,
    /// or none when `max_rate` is 0.
    fn throttle(&self) -> Throttle {
        let config = &self.config;
        if config.max_rate == 0 {
            return Throttle::new(0, 0, 0);
        }
        let byte_burst = (2 * config.max_byte_rate as usize).max(2 * config.max_line);
        Throttle::new(config.max_rate, config.max_byte_rate, byte_burst)
    }

    fn leave(&self, me: &Me, too_slow: bool) {
        self.rooms.remove(me.hub, &me.room, me.id);
        if self.directory().remove(me.id).is_none() {
            return;
        }
        self.cluster_release(&me.nick);
        self.clients_changed();
        let why = if too_slow {
            log::info!(
                "{} dropped: its queue is full and its socket took nothing",
                me.nick
            );
            " (too slow)"
        } else {
            log::info!("{} left", me.nick);
            ""
        };
        let notice = line(format!("*** {} left {}{why}", me.nick, me.room.name));
        let _ = self.tell_room(&me.room, me.id, Kind::Notice, notice);
    }

    fn act(&self, me: &mut Me, command: Command) -> Option<Reply> {
        let tell = |text: String| Some(Reply::Tell(text));
        match command {
            Command::Say(text) => {
                let text = sanitize(&text);
                if !text.trim().is_empty() {
                    let said = line(format!("<{}> {text}", me.nick));
                    me.backlogged |= self.tell_room(&me.room, me.id, Kind::Chat, said);
                }
                None
            }
            Command::Me(action) => {
                let did = line(format!("* {} {}", me.nick, sanitize(&action)));
                me.backlogged |= self.tell_room(&me.room, me.id, Kind::Chat, did);
                None
            }
            Command::Nick(wanted) => {
                if let Err(why) = validate_nick(&wanted) {
                    return tell(format!("!!! {why}"));
                }
                // Taken here is answered without asking the other servers.
                if self.directory().has_nick(&wanted)
                    && crate::text::nick_key(&wanted) != crate::text::nick_key(&me.nick)
                {
                    return tell(format!("!!! {wanted} is taken"));
                }
                if let Err(why) = self.cluster_claim(&me.nick, &wanted) {
                    return tell(format!("!!! {why}"));
                }
                if let Err(why) = self.directory().rename(me.id, &wanted) {
                    self.cluster_release(&wanted);
                    return tell(format!("!!! {why}"));
                }
                let old = std::mem::replace(&mut me.nick, wanted.clone());
                self.cluster_release(&old);
                self.clients_changed();
                let notice = line(format!("*** {old} is now known as {wanted}"));
                me.backlogged |= self.tell_room(&me.room, me.id, Kind::Notice, notice);
                tell(format!("*** you are now {wanted}"))
            }
            Command::Join(target) => {
                if let Err(why) = validate_room(&target) {
                    return tell(format!("!!! {why}"));
                }
                if room_key(&target) == room_key(&me.room.name) {
                    return tell(format!("*** you are already in {}", me.room.name));
                }
                let new = self.directory().move_to(me.id, &target)?;
                self.clients_changed();
                // As in `enter`: moved on its hub before anything can park.
                self.rooms.remove(me.hub, &me.room, me.id);
                self.rooms.add(me.hub, &new, me.id, me.outbox.clone());
                let old = std::mem::replace(&mut me.room, new);
                let left = line(format!("*** {} left {}", me.nick, old.name));
                me.backlogged |= self.tell_room(&old, me.id, Kind::Notice, left);
                let joined = line(format!("*** {} joined {}", me.nick, me.room.name));
                me.backlogged |= self.tell_room(&me.room, me.id, Kind::Notice, joined);
                tell(format!("*** you are now in {}", me.room.name))
            }
            // Several lines in one queue entry: a few KB at most, however big the server.
            Command::Rooms(page) => tell(self.rooms_everywhere(page).join("\n")),
            Command::Who => tell(self.who_everywhere(&me.room.name).join("\n")),
            Command::Msg { to, text } => {
                let target = self.directory().outbox_of(&to);
                match target {
                    Some(outbox) => {
                        // Never waits: a recipient that is not reading costs the sender a
                        // refusal, not its session, and the recipient nothing.
                        let pm = line(format!("[pm from {}] {}", me.nick, sanitize(&text)));
                        match outbox.try_send(pm) {
                            Ok(()) => None,
                            Err(TrySendError::Full(_)) => tell(format!(
                                "!!! {} is not reading; message not delivered",
                                sanitize(&to)
                            )),
                            Err(TrySendError::Disconnected(_)) => {
                                tell(format!("!!! {} left; message not delivered", sanitize(&to)))
                            }
                        }
                    }
                    None => self
                        .message_elsewhere(&me.nick, &to, &text)
                        .map(Reply::Tell),
                }
            }
            Command::Help => tell(format!("*** {HELP}")),
            Command::Quit => Some(Reply::Quit),
            Command::Invalid(why) => tell(format!("!!! {why}")),
        }
    }
}
