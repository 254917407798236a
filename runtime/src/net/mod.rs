//! Sockets whose blocking-looking calls park only the calling green thread.
//!
//! The types mirror `std::net` and `std::os::unix::net`: same method names, same semantics, and
//! `Read`/`Write` for both the socket and a shared reference to it, so `BufReader`, `lines()`,
//! `write_all` and every crate written against `std::io` work unchanged. Differences worth
//! knowing:
//!
//! - An expired read or write timeout returns `ErrorKind::TimedOut` (std returns `WouldBlock` on
//!   Unix), and the socket stays usable.
//! - `try_clone` returns another handle to the same socket without duplicating the descriptor;
//!   `close` shuts the socket down for every handle and wakes green threads waiting on it with
//!   `ErrorKind::NotConnected`.
//! - Writing to a socket whose peer is gone returns `BrokenPipe` or `ConnectionReset`; it never
//!   raises SIGPIPE.
//! - Outside a hub, on a plain OS thread, every call blocks that thread (in poll(2)) and works.

mod addr;
mod shared;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use tcp::{Incoming, TcpListener, TcpStream, DEFAULT_BACKLOG};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
