//! A tokio chat server for the benchmark: the subset of the chat protocol that `chat-load`
//! uses (welcome and `guest-N`, `/nick`, `/join`, `/quit`, relaying `<nick> text` to the rest
//! of the room, notices while a room is small), written the way a tokio user would: a reader
//! task and a writer task per client, a bounded `mpsc` queue, and a client whose queue fills is
//! dropped. It shares the greenhub server's parsing, sanitizing and nick rules, so the two
//! differ only in the runtime underneath. Not in the subset: rate limits, idle timeouts, `/me`,
//! `/msg`, `/who`, `/rooms` and `/help`.

use chat_demo::command::{parse, Command};
use chat_demo::framing::{decode, Incoming};
use chat_demo::server::{Config, LOBBY};
use chat_demo::text::{nick_key, sanitize, validate_nick, validate_room};
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

struct Client {
    nick: String,
    room: String,
    outbox: mpsc::Sender<Arc<str>>,
}

#[derive(Default)]
struct State {
    clients: HashMap<u64, Client>,
    nicks: HashSet<String>,
    rooms: HashMap<String, HashSet<u64>>,
    next_id: u64,
}

struct Server {
    config: Config,
    state: Mutex<State>,
    /// Set by a broadcast that left some queue at least half full. A hint shared by every
    /// worker on the multi-thread runtime.
    backlogged: AtomicBool,
}

/// Serves until the process ends.
///
/// # Errors
///
/// When `addr` cannot be bound.
pub async fn serve(addr: &str, config: Config) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    crate::process::announce(listener.local_addr()?);
    let server = Arc::new(Server {
        config,
        state: Mutex::default(),
        backlogged: AtomicBool::new(false),
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move {
            let _ = server.session(stream).await;
        });
    }
}

fn line(text: String) -> Arc<str> {
    let mut text = text;
    text.push('\n');
    text.into()
}

/// The next line of at most `max_line` bytes; longer lines are skipped as they stream past.
async fn next_line(
    reader: &mut BufReader<OwnedReadHalf>,
    max_line: usize,
) -> io::Result<Option<Incoming>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(None);
        }
        let (part, used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], at + 1, true),
            None => (buf, buf.len(), false),
        };
        if line.len() + part.len() > max_line {
            too_long = true;
            line.clear();
        } else if !too_long {
            line.extend_from_slice(part);
        }
        reader.consume(used);
        if done {
            return Ok(Some(if too_long {
                Incoming::TooLong
            } else {
                decode(&line)
            }));
        }
    }
}

impl Server {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn session(self: Arc<Self>, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let (read_half, mut write_half) = stream.into_split();
        let (outbox, mut queue) = mpsc::channel::<Arc<str>>(self.config.queue);
        let writer = tokio::spawn(async move {
            // As the greenhub server does: what queued up goes out in one write.
            while let Some(first) = queue.recv().await {
                let written = match queue.try_recv() {
                    Err(_) => write_half.write_all(first.as_bytes()).await,
                    Ok(second) => {
                        let mut batch = Vec::with_capacity(16 * 1024);
                        batch.extend_from_slice(first.as_bytes());
                        batch.extend_from_slice(second.as_bytes());
                        while batch.len() < 16 * 1024 {
                            let Ok(next) = queue.try_recv() else { break };
                            batch.extend_from_slice(next.as_bytes());
                        }
                        write_half.write_all(&batch).await
                    }
                };
                if written.is_err() {
                    break;
                }
            }
        });
        let (id, nick) = self.join(outbox.clone());
        let _ = outbox
            .send(line(format!(
                "*** welcome! you are {nick}, in room {LOBBY}."
            )))
            .await;
        self.tell_room(LOBBY, id, true, line(format!("*** {nick} joined {LOBBY}")));
        let mut reader = BufReader::new(read_half);
        while let Some(incoming) = next_line(&mut reader, self.config.max_line).await? {
            let reply = match incoming {
                Incoming::TooLong => Some("!!! line too long; discarded".to_string()),
                Incoming::InvalidUtf8 => Some("!!! that line is not valid UTF-8".to_string()),
                Incoming::Line(text) => match parse(&text) {
                    Command::Quit => break,
                    command => self.act(id, command),
                },
            };
            if let Some(reply) = reply {
                if outbox.try_send(line(reply)).is_err() {
                    break;
                }
            }
            // As the greenhub server does: under backlog, let the writers drain first.
            if self.backlogged.swap(false, Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        }
        self.leave(id);
        drop(outbox);
        let _ = writer.await;
        Ok(())
    }

    fn join(&self, outbox: mpsc::Sender<Arc<str>>) -> (u64, String) {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        let nick = format!("guest-{id}");
        state.nicks.insert(nick_key(&nick));
        state.rooms.entry(LOBBY.into()).or_default().insert(id);
        state.clients.insert(
            id,
            Client {
                nick: nick.clone(),
                room: LOBBY.into(),
                outbox,
            },
        );
        (id, nick)
    }

    fn leave(&self, id: u64) {
        let client = {
            let mut state = self.state();
            let Some(client) = state.clients.remove(&id) else {
                return;
            };
            state.nicks.remove(&nick_key(&client.nick));
            if let Some(members) = state.rooms.get_mut(&client.room) {
                members.remove(&id);
            }
            client
        };
        let notice = line(format!("*** {} left {}", client.nick, client.room));
        self.tell_room(&client.room, id, true, notice);
    }

    fn tell_room(&self, room: &str, except: u64, notice: bool, message: Arc<str>) {
        let (mut too_slow, mut backlogged) = (Vec::new(), false);
        {
            let state = self.state();
            let Some(members) = state.rooms.get(room) else {
                return;
            };
            if notice && members.len() > self.config.announce_limit {
                return;
            }
            for id in members.iter().filter(|id| **id != except) {
                let Some(client) = state.clients.get(id) else {
                    continue;
                };
                match client.outbox.try_send(message.clone()) {
                    Err(mpsc::error::TrySendError::Full(_)) => too_slow.push(*id),
                    Ok(()) if client.outbox.capacity() * 2 <= self.config.queue => {
                        backlogged = true
                    }
                    _ => {}
                }
            }
        }
        if backlogged {
            self.backlogged.store(true, Ordering::Relaxed);
        }
        for id in too_slow {
            self.leave(id);
        }
    }

    fn act(&self, id: u64, command: Command) -> Option<String> {
        let (nick, room) = {
            let state = self.state();
            let client = state.clients.get(&id)?;
            (client.nick.clone(), client.room.clone())
        };
        match command {
            Command::Say(text) => {
                let text = sanitize(&text);
                self.tell_room(&room, id, false, line(format!("<{nick}> {text}")));
                None
            }
            Command::Nick(wanted) => {
                if let Err(why) = validate_nick(&wanted) {
                    return Some(format!("!!! {why}"));
                }
                {
                    let mut state = self.state();
                    let key = nick_key(&wanted);
                    if key != nick_key(&nick) && !state.nicks.insert(key) {
                        return Some(format!("!!! {wanted} is taken"));
                    }
                    state.nicks.remove(&nick_key(&nick));
                    state.nicks.insert(nick_key(&wanted));
                    if let Some(client) = state.clients.get_mut(&id) {
                        client.nick = wanted.clone();
                    }
                }
                let notice = line(format!("*** {nick} is now known as {wanted}"));
                self.tell_room(&room, id, true, notice);
                Some(format!("*** you are now {wanted}"))
            }
            Command::Join(target) => {
                if let Err(why) = validate_room(&target) {
                    return Some(format!("!!! {why}"));
                }
                {
                    let mut state = self.state();
                    if let Some(members) = state.rooms.get_mut(&room) {
                        members.remove(&id);
                    }
                    state.rooms.entry(target.clone()).or_default().insert(id);
                    if let Some(client) = state.clients.get_mut(&id) {
                        client.room = target.clone();
                    }
                }
                self.tell_room(&room, id, true, line(format!("*** {nick} left {room}")));
                let notice = line(format!("*** {nick} joined {target}"));
                self.tell_room(&target, id, true, notice);
                Some(format!("*** you are now in {target}"))
            }
            _ => Some("!!! not supported by this benchmark peer".to_string()),
        }
    }
}
