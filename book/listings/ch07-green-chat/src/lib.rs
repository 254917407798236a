//! Chapter 7: the chat again, with green threads. Each client gets plain sequential code (read
//! a line, send it to the others), and every call that would block parks only its own green
//! thread. All of them share one OS thread, so plain `Rc<RefCell<..>>` is enough to share the
//! list of clients.

use greenhub::net::{TcpListener, TcpStream};
use std::cell::RefCell;
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
/// Serves `clients` clients, each in a green thread of its own, then returns.
pub fn serve(listener: TcpListener, clients: usize) -> io::Result<()> {
    let everyone: Clients = Rc::default();
    let mut sessions = Vec::new();
    for (id, stream) in listener.incoming().take(clients).enumerate() {
        let stream = stream?;
        everyone.borrow_mut().insert(id, stream.try_clone()?);
        let everyone = everyone.clone();
        sessions.push(greenhub::spawn(move || session(id, stream, everyone)));
    }
    for session in sessions {
        session.join().expect("a session panicked")?;
    }
    Ok(())
}

/// One client: the loop from the first socket tutorial.
fn session(id: usize, stream: TcpStream, everyone: Clients) -> io::Result<()> {
    for line in BufReader::new(&stream).lines() {
        let line = line?; // parks this green thread until a line arrives
        let others: Vec<TcpStream> = everyone
            .borrow()
            .iter()
            .filter(|(other, _)| **other != id)
            .filter_map(|(_, s)| s.try_clone().ok())
            .collect();
        for mut other in others {
            let _ = writeln!(other, "{id}: {line}"); // a write may park too, never the hub
        }
    }
    everyone.borrow_mut().remove(&id);
    Ok(())
}
// ANCHOR_END: server

// ANCHOR: client
/// The two-way client: a green thread prints what arrives while this one sends what is typed.
pub fn client(
    addr: std::net::SocketAddr,
    keyboard: impl BufRead,
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
    for line in keyboard.lines() {
        writeln!(&stream, "{}", line?)?;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    printer.join().expect("the printer panicked")
}
// ANCHOR_END: client
