//! A stream server in the spirit of gevent's `StreamServer`: it accepts, and calls your handler
//! in a green thread of its own for each connection.

use crate::net::{TcpListener, TcpStream, ToSocketAddrs};
use crate::sync::task_set::TaskSet;
use crate::sync::{Event, Semaphore};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first pause after an accept error such as "too many open files", doubled after each
/// further error up to [`MAX_BACKOFF`] (gevent's numbers).
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between accept attempts after repeated errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

type Handler = dyn Fn(TcpStream, SocketAddr) + Send + Sync;

/// Accepts connections and runs `handler(stream, peer)` for each in its own green thread; the
/// stream is shut down when the handler returns.
///
/// While `max_connections` handlers run, the server stops accepting (clients wait in the
/// listen backlog) and resumes when one ends. Accept errors such as `EMFILE` (out of
/// descriptors) are answered by backing off from 10 ms up to 1 s instead of spinning.
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
}

/// A running [`StreamServer`].
pub struct ServerHandle {
    local_addr: SocketAddr,
    listeners: Vec<TcpListener>,
    acceptors: Vec<crate::JoinHandle<()>>,
    connections: Arc<TaskSet>,
    stopped: Arc<Event>,
}

impl StreamServer {
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
        let shared = Arc::new(Shared {
            handler: self.handler,
            slots: self.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            connections: Arc::default(),
            spread: if hubs > 1 { hubs } else { 0 },
            next_hub: AtomicUsize::new(0),
        });
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
        let here = crate::current_hub().expect("StreamServer::start must run inside a runtime");
        let mut acceptors = Vec::new();
        for (index, listener) in listeners.iter().enumerate() {
            let (listener, shared) = (listener.try_clone()?, shared.clone());
            let hub = if per_hub_listeners { index } else { here };
            acceptors.push(crate::spawn_on(hub, move || {
                shared.accept_loop(listener, per_hub_listeners)
            }));
        }
        Ok(ServerHandle {
            local_addr,
            listeners,
            acceptors,
            connections: shared.connections.clone(),
            stopped: Arc::default(),
        })
    }
}

struct Shared {
    handler: Arc<Handler>,
    slots: Option<Arc<Semaphore>>,
    connections: Arc<TaskSet>,
    /// Hand connections to this many hubs in turn (0: keep them on the accepting hub).
    spread: usize,
    next_hub: AtomicUsize,
}

fn out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl Shared {
    fn accept_loop(&self, listener: TcpListener, local_only: bool) {
        let mut backoff = MIN_BACKOFF;
        loop {
            if let Some(slots) = &self.slots {
                // Full: stop accepting until a handler ends.
                std::mem::forget(slots.acquire());
            }
            let accepted = listener.accept();
            let (stream, peer) = match accepted {
                Ok(connection) => {
                    backoff = MIN_BACKOFF;
                    connection
                }
                Err(err) => {
                    if let Some(slots) = &self.slots {
                        slots.release();
                    }
                    match err.kind() {
                        io::ErrorKind::NotConnected => return, // stopped
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted => continue,
                        _ if out_of_resources(&err) => {
                            log::warn!("greenhub StreamServer: accept failed ({err}); retrying in {backoff:?}");
                            crate::sleep(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                        _ => {
                            log::warn!("greenhub StreamServer: accept failed: {err}");
                            crate::sleep(MIN_BACKOFF);
                        }
                    }
                    continue;
                }
            };
            self.start_handler(stream, peer, local_only);
        }
    }

    fn start_handler(&self, stream: TcpStream, peer: SocketAddr, local_only: bool) {
        let membership = self.connections.enter();
        let id = membership.id();
        let (handler, slot) = (self.handler.clone(), self.slots.clone());
        let serve = move || {
            let _membership = membership;
            let _slot = SlotBack(slot);
            let closer = stream.try_clone();
            handler(stream, peer);
            // The handler is done with the connection, even if it kept a clone somewhere.
            if let Ok(closer) = closer {
                let _ = closer.close();
            }
        };
        let handle = if self.spread > 0 && !local_only {
            let hub = self.next_hub.fetch_add(1, Ordering::Relaxed) % self.spread;
            crate::spawn_on(hub, serve)
        } else {
            crate::spawn(serve)
        };
        self.connections.watch(id, &handle);
    }
}

/// Gives a connection slot back when its handler ends, however it ends.
struct SlotBack(Option<Arc<Semaphore>>);

impl Drop for SlotBack {
    fn drop(&mut self) {
        if let Some(slots) = &self.0 {
            slots.release();
        }
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
