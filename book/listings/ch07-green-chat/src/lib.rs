//! Chapter 7: the chat again, with green threads. Each client gets plain sequential code (read
//! a line, send it to the others), and every greenhub call that would block parks only its own
//! green thread; a std call that blocks stops the whole hub. All of them share one OS thread,
//! so plain `Rc<RefCell<..>>` is enough to share the list of clients.

use greenhub::net::{TcpListener, TcpStream};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::rc::Rc;

type Clients = Rc<RefCell<HashMap<usize, TcpStream>>>;

// ANCHOR: park
/// Every blocking-looking call is built on these two: a green thread parks until another
/// unparks it. Returns what the main green thread saw when it woke.
pub fn park_and_unpark() -> &'static str {
    greenhub::run(|| {
        let done = Rc::new(std::cell::Cell::new(false));
        let me = greenhub::current();
        let flag = done.clone();
        greenhub::spawn(move || {
            flag.set(true);
            me.unpark(); // make the main green thread runnable again
        });
        while !done.get() {
            greenhub::park(); // suspend until someone unparks us
        }
        "woken: the other green thread ran while we were parked"
    })
}
// ANCHOR_END: park

// ANCHOR: server
/// Serves `clients` clients, each in a green thread of its own, and returns once every one
/// of them has left: with the first error a session reported, if any.
pub fn serve(listener: TcpListener, clients: usize) -> io::Result<()> {
    let everyone: Clients = Rc::default();
    let mut sessions = Vec::new();
    for (id, stream) in listener.incoming().take(clients).enumerate() {
        let stream = stream?;
        everyone.borrow_mut().insert(id, stream.try_clone()?);
        let everyone = everyone.clone();
        sessions.push(greenhub::spawn(move || session(id, stream, everyone)));
    }
    // Wait for every session. Returning at the first one that failed would end the server
    // because of one client (and, from `main`, cancel every other session with it).
    let mut first_error = None;
    for session in sessions {
        let ended = session
            .join()
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        if let Err(e) = ended {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// One client: the loop from the first socket tutorial. It leaves the list on every way out,
/// an error included, so nobody writes to a client that has gone.
fn session(id: usize, stream: TcpStream, everyone: Clients) -> io::Result<()> {
    let result = relay_lines(id, &stream, &everyone);
    everyone.borrow_mut().remove(&id);
    result
}

fn relay_lines(id: usize, stream: &TcpStream, everyone: &Clients) -> io::Result<()> {
    for line in BufReader::new(stream).lines() {
        let line = line?; // parks this green thread until a line arrives

        // The whole message in one buffer, sent with one `write_all`: `writeln!` with
        // arguments would make several writes, and a write that parks between them would let
        // another session's line land in the middle of this one.
        let message = format!("{id}: {line}\n");
        // Copy the list out first: a `RefCell` borrow held across a write that parks would
        // make another session's `borrow_mut` panic.
        let others: Vec<TcpStream> = everyone
            .borrow()
            .iter()
            .filter(|(other, _)| **other != id)
            .filter_map(|(_, s)| s.try_clone().ok())
            .collect();
        for mut other in others {
            // A write may park too, never the hub. A client that has gone is its own
            // session's business: its read fails and it leaves the list.
            let _ = other.write_all(message.as_bytes());
        }
    }
    Ok(())
}
// ANCHOR_END: server

// ANCHOR: client
/// The two-way client: a green thread prints what arrives while this one sends each line
/// typed. `keyboard` is `greenhub::io::stdin().lines()` in a real program (see [`run_client`]).
pub fn client(
    addr: std::net::SocketAddr,
    keyboard: impl Iterator<Item = io::Result<String>>,
    mut screen: impl Write + 'static,
) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    let incoming = stream.try_clone()?;
    let printer = greenhub::spawn(move || -> io::Result<()> {
        for line in BufReader::new(incoming).lines() {
            writeln!(screen, "> {}", line?)?;
        }
        writeln!(screen, "* the server closed the connection")
    });
    for line in keyboard {
        (&stream).write_all(format!("{}\n", line?).as_bytes())?;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    printer.join().expect("the printer panicked")
}

/// The client on a terminal. `greenhub::io::stdin()` parks the green thread until a line is
/// typed; `std::io::stdin()` would block the OS thread, and with it the printer.
pub fn run_client(addr: std::net::SocketAddr) -> io::Result<()> {
    greenhub::run(move || client(addr, greenhub::io::stdin().lines(), io::stdout()))
}
// ANCHOR_END: client

// ANCHOR: blocking
/// Sleeps for `nap` beside a green thread that ticks every millisecond, once with std's
/// sleep and once with greenhub's. Returns how often the ticker ran while we slept.
pub fn ticks_while_sleeping(nap: std::time::Duration, std_sleep: bool) -> u32 {
    greenhub::run(move || {
        let (ticks, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
        let ticker = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            greenhub::spawn(move || {
                while !stop.get() {
                    greenhub::sleep(std::time::Duration::from_millis(1));
                    ticks.set(ticks.get() + 1);
                }
            })
        };
        greenhub::yield_now(); // let the ticker start
        let before = ticks.get();
        if std_sleep {
            std::thread::sleep(nap); // blocks the OS thread: the hub, and everyone on it
        } else {
            greenhub::sleep(nap); // parks this green thread only
        }
        let during = ticks.get() - before;
        stop.set(true);
        ticker.join().expect("the ticker panicked");
        during
    })
}
// ANCHOR_END: blocking
