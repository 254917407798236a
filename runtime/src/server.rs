//! A stream server in the spirit of gevent's `StreamServer`: it accepts, and calls your handler
//! in a green thread of its own for each connection.

mod backoff;
#[cfg(feature = "tls")]
mod tls;

use crate::net::{TcpListener, TcpStream, ToSocketAddrs};
use crate::sync::semaphore::OwnedPermit;
use crate::sync::task_set::{Membership, TaskSet};
use crate::sync::{channel, Event, Receiver, Semaphore, Sender};
use backoff::{Backoff, StartFailures};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Handler = dyn Fn(TcpStream, SocketAddr) + Send + Sync;

/// Accepts connections and runs `handler(stream, peer)` for each in its own green thread; the
/// stream is shut down when the handler returns.
///
/// While `max_connections` handlers run, the server stops accepting (clients wait in the
/// listen backlog) and resumes when one ends. Accept errors such as `EMFILE` (out of
/// descriptors) are answered by backing off from 10 ms up to 1 s instead of spinning. So is a
/// handler that cannot start because no stack can be mapped (at `vm.max_map_count`, or out of
/// address space): its connection is closed, the streak of such failures is logged once (a
/// warning, then a note when handlers start again), and the server serves again as soon as
/// stacks can be had. The accept loop itself never panics for want of a stack.
///
/// # Examples
///
/// ```
/// use greenhub::net::TcpStream;
/// use std::io::{BufRead, BufReader, Write};
/// use std::time::Duration;
///
/// greenhub::run(|| -> std::io::Result<()> {
///     let server = greenhub::StreamServer::bind("127.0.0.1:0", |stream, _peer| {
///         let mut writer = stream.try_clone().unwrap();
///         for line in BufReader::new(stream).lines().map_while(Result::ok) {
///             let _ = writeln!(writer, "echo: {line}");
///         }
///     })?
///     .max_connections(100)
///     .start()?;
///
///     let mut client = TcpStream::connect(server.local_addr())?;
///     writeln!(client, "hi")?;
///     let mut reply = String::new();
///     BufReader::new(&client).read_line(&mut reply)?;
///     assert_eq!(reply, "echo: hi\n");
///     server.stop(Duration::from_millis(100));
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub struct StreamServer {
    listener: TcpListener,
    bound_to: Option<SocketAddr>,
    handler: Arc<Handler>,
    max_connections: Option<usize>,
    all_hubs: bool,
    /// How long a TLS server's clients have to finish their handshake (see `server/tls.rs`),
    /// shared with the handler that runs it.
    #[cfg(feature = "tls")]
    handshake_timeout: Arc<crate::io::source::AtomicTimeout>,
}

/// A running [`StreamServer`].
pub struct ServerHandle {
    local_addr: SocketAddr,
    listeners: Vec<TcpListener>,
    acceptors: Vec<crate::JoinHandle<()>>,
    /// Each ends once every acceptor has (see `dispatch`).
    dispatchers: Vec<crate::JoinHandle<()>>,
    connections: Arc<TaskSet>,
    stopped: Arc<Event>,
}

impl StreamServer {
    /// The first pause after an accept error such as "too many open files", doubled after each
    /// further error up to [`MAX_BACKOFF`](Self::MAX_BACKOFF) (gevent's numbers).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::StreamServer;
    /// assert!(StreamServer::MIN_BACKOFF < StreamServer::MAX_BACKOFF);
    /// ```
    pub const MIN_BACKOFF: Duration = Duration::from_millis(10);

    /// The longest pause between accept attempts after repeated errors.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenhub::StreamServer::MAX_BACKOFF.as_secs(), 1);
    /// ```
    pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

    /// Binds `addr` (see [`TcpListener::bind`]) and prepares a server calling `handler`.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub fn bind<A, H>(addr: A, handler: H) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        H: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        let bound_to = Some(listener.local_addr()?);
        Ok(StreamServer {
            bound_to,
            ..StreamServer::from_listener(listener, handler)
        })
    }

    /// Prepares a server on a listener bound elsewhere.
    pub fn from_listener<H>(listener: TcpListener, handler: H) -> StreamServer
    where
        H: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        StreamServer {
            listener,
            bound_to: None,
            handler: Arc::new(handler),
            max_connections: None,
            all_hubs: false,
            #[cfg(feature = "tls")]
            handshake_timeout: Arc::default(),
        }
    }

    /// At most `n` handlers at once; beyond that the server stops accepting until one ends.
    pub fn max_connections(mut self, n: usize) -> StreamServer {
        self.max_connections = Some(n.max(1));
        self
    }

    /// Spreads connections over every hub of the runtime: on Linux each hub gets its own
    /// `SO_REUSEPORT` listener (for a server made with [`bind`](Self::bind)); otherwise one
    /// acceptor hands connections to the hubs in turn.
    pub fn on_all_hubs(mut self) -> StreamServer {
        self.all_hubs = true;
        self
    }

    /// Starts accepting in the background and returns a handle to stop the server.
    ///
    /// # Errors
    ///
    /// When a per-hub listener cannot be bound.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    pub fn start(self) -> io::Result<ServerHandle> {
        let local_addr = self.listener.local_addr()?;
        let hubs = if self.all_hubs {
            crate::hub_count().unwrap_or(1)
        } else {
            1
        };
        let connections = Arc::<TaskSet>::default();
        let failures = Arc::new(StartFailures::new(crate::hub_count().unwrap_or(1)));
        let mut listeners = vec![self.listener];
        if hubs > 1 && cfg!(target_os = "linux") && self.bound_to.is_some() {
            // One listener per hub; the kernel spreads connections between them. The first
            // listener was bound without SO_REUSEPORT, so it gives the port up first.
            drop(listeners.pop());
            for _ in 0..hubs {
                listeners.push(TcpListener::bind_reuse_port(local_addr)?);
            }
        }
        let per_hub_listeners = listeners.len() > 1;
        let mut workers = Vec::new();
        let mut dispatchers = Vec::new();
        if hubs > 1 && !per_hub_listeners {
            // One acceptor hands connections to every hub in turn, where a dispatcher starts
            // their handlers: a hub without a stack to spare then says so instead of panicking.
            for hub in 0..hubs {
                let (sender, receiver) = channel();
                let (handler, running, failures) =
                    (self.handler.clone(), connections.clone(), failures.clone());
                dispatchers.push(sender);
                workers.push(crate::spawn_on(hub, move || {
                    dispatch(receiver, handler, running, failures)
                }));
            }
        }
        let state = Arc::new(ServerState {
            handler: self.handler,
            slots: self.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            connections: connections.clone(),
            failures,
            dispatchers,
            next_hub: AtomicUsize::new(0),
        });
        let here = crate::current_hub().expect("StreamServer::start must run inside a runtime");
        let mut acceptors = Vec::new();
        for (index, listener) in listeners.iter().enumerate() {
            let (listener, state) = (listener.try_clone()?, state.clone());
            let hub = if per_hub_listeners { index } else { here };
            acceptors.push(crate::spawn_on(hub, move || state.accept_loop(listener)));
        }
        Ok(ServerHandle {
            local_addr,
            listeners,
            acceptors,
            dispatchers: workers,
            connections,
            stopped: Arc::default(),
        })
    }
}

/// What every accept loop of one server shares.
struct ServerState {
    handler: Arc<Handler>,
    slots: Option<Arc<Semaphore>>,
    connections: Arc<TaskSet>,
    failures: Arc<StartFailures>,
    /// One per hub when a single acceptor spreads connections over the hubs: each hub's
    /// dispatcher starts the handlers there. Empty: handlers start on the accepting hub.
    dispatchers: Vec<Sender<Connection>>,
    next_hub: AtomicUsize,
}

fn out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// How many connections an acceptor takes before it lets the green threads it started run.
const ACCEPTS_PER_TURN: u32 = 16;

impl ServerState {
    fn accept_loop(&self, listener: TcpListener) {
        let mut accept_backoff = Backoff::new();
        let mut start_backoff = Backoff::new();
        let mut failures_seen = self.failures.total();
        let mut accepted_this_turn = 0;
        loop {
            // A burst of connects would otherwise keep the acceptor running for a whole I/O
            // budget (128 accepts, each with a socket set-up and a spawn: milliseconds), while
            // the sessions it started wait: it lets them run every few accepts.
            if accepted_this_turn == ACCEPTS_PER_TURN {
                accepted_this_turn = 0;
                crate::yield_now();
            }
            // Handlers could not start since the last look (here, or on a hub this acceptor
            // hands connections to): take no more for a while, as after EMFILE, and longer
            // each time until one starts again.
            let failures = self.failures.total();
            if failures != failures_seen {
                failures_seen = failures;
                start_backoff.wait();
            } else if !self.failures.failing() {
                start_backoff.reset();
            }
            // Full: stop accepting until a handler ends. The slot moves into the handler's
            // closure, and comes back when that is dropped, whether it ran or not.
            let slot = self.slots.as_ref().map(Semaphore::acquire_owned);
            let (stream, peer) = match listener.accept() {
                Ok(connection) => {
                    accept_backoff.reset();
                    accepted_this_turn += 1;
                    connection
                }
                Err(err) => {
                    drop(slot);
                    match err.kind() {
                        io::ErrorKind::NotConnected => return, // stopped
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted => continue,
                        _ if out_of_resources(&err) => {
                            log::warn!(
                                "greenhub StreamServer: accept failed ({err}); retrying in {:?}",
                                accept_backoff.delay
                            );
                            accept_backoff.wait();
                        }
                        _ => {
                            log::warn!("greenhub StreamServer: accept failed: {err}");
                            crate::sleep(StreamServer::MIN_BACKOFF);
                        }
                    }
                    continue;
                }
            };
            let connection = Connection {
                stream,
                peer,
                slot,
                membership: self.connections.enter(),
            };
            if self.dispatchers.is_empty() {
                connection.start(&self.handler, &self.connections, &self.failures);
            } else {
                let hub = self.next_hub.fetch_add(1, Ordering::Relaxed) % self.dispatchers.len();
                // A dispatcher ends only after the acceptors: if it is gone, the connection
                // comes back in the error and is dropped, which closes it.
                let _ = self.dispatchers[hub].send(connection);
            }
        }
    }
}

/// An accepted connection on its way to its handler: what the handler's green thread owns.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Given back when the handler ends, or when this is dropped unstarted.
    slot: Option<OwnedPermit>,
    /// Keeps the server's count of running handlers until the handler ends.
    membership: Membership,
}

impl Connection {
    /// Starts its handler on this hub. Without a stack for it, the connection is dropped
    /// (closed, its slot given back) and the failure counted, never raised: an acceptor or a
    /// dispatcher that panicked here would serve no one again.
    fn start(self, handler: &Arc<Handler>, connections: &TaskSet, failures: &StartFailures) {
        let id = self.membership.id();
        let handler = handler.clone();
        let serve = move || {
            let Connection {
                stream,
                peer,
                slot,
                membership,
            } = self;
            let (_membership, _slot) = (membership, slot);
            let closer = stream.try_clone();
            handler(stream, peer);
            // The handler is done with the connection, even if it kept a clone somewhere.
            if let Ok(closer) = closer {
                let _ = closer.close();
            }
        };
        match crate::Builder::new().spawn(serve) {
            Ok(handle) => {
                connections.watch(id, &handle);
                failures.started();
            }
            Err(err) => failures.failed(&err),
        }
    }
}

/// The green thread that starts, on its own hub, the handlers of the connections one acceptor
/// hands it. It ends when the acceptors have ended (every sender is gone).
fn dispatch(
    connections: Receiver<Connection>,
    handler: Arc<Handler>,
    running: Arc<TaskSet>,
    failures: Arc<StartFailures>,
) {
    for connection in connections.iter() {
        connection.start(&handler, &running, &failures);
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many handlers are running.
    pub fn connections(&self) -> usize {
        self.connections.running()
    }

    /// Stops accepting, waits up to `grace` for running handlers to finish, then cancels the
    /// rest (their destructors run). Returns how many handlers were cancelled.
    pub fn stop(self, grace: Duration) -> usize {
        for listener in &self.listeners {
            if let Ok(listener) = listener.try_clone() {
                let _ = listener.close();
            }
        }
        // An acceptor may be parked on the connection limit rather than in accept.
        for acceptor in self.acceptors {
            acceptor.cancel();
            let _ = acceptor.join();
        }
        // They start the handlers of connections already handed to them, then end.
        for dispatcher in self.dispatchers {
            let _ = dispatcher.join();
        }
        let mut cancelled = 0;
        if !self
            .connections
            .wait_idle(Instant::now().checked_add(grace))
        {
            cancelled = self.connections.cancel_all();
            self.connections
                .wait_idle(Instant::now().checked_add(Duration::from_secs(1)));
        }
        self.stopped.set();
        cancelled
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.connections())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Finding 8 of the soundness review: the slot was taken with `forget` and the guard that
    /// gives it back was built inside the handler's closure, so a handler cancelled before it
    /// started (or never started) kept its slot forever.
    #[test]
    fn a_handler_that_never_runs_gives_its_slot_back() {
        crate::run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (stream, peer) = listener.accept().unwrap();
            let slots = Arc::new(Semaphore::new(1));
            let connections = Arc::<TaskSet>::default();
            let connection = Connection {
                stream,
                peer,
                slot: Some(slots.acquire_owned()),
                membership: connections.enter(),
            };
            let handler: Arc<Handler> = Arc::new(|_, _| ());
            connection.start(&handler, &connections, &StartFailures::new(1));
            assert_eq!(connections.cancel_all(), 1); // before it ever ran
            assert!(connections.wait_idle(None));
            assert_eq!(slots.available(), 1);
        });
    }
}
