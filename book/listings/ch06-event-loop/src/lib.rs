//! Chapter 6: a chat server as an event loop, the selectors style. One thread waits on every
//! socket; each wake-up calls a handler that must never block, so each client's progress
//! (half a line read, half a reply written) lives in a state struct instead of on a stack.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};

const LISTENER: Token = Token(usize::MAX);

// ANCHOR: state
/// Everything we must remember about a client between two events.
struct Client {
    stream: TcpStream,
    /// Bytes received that do not end in `\n` yet: the start of a line.
    partial_line: Vec<u8>,
    /// Bytes to send that the socket did not take yet.
    unsent: Vec<u8>,
}
// ANCHOR_END: state

// ANCHOR: loop
/// Serves until `stop_after` clients have come and gone.
pub fn serve(listener: std::net::TcpListener, stop_after: usize) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let (mut events, mut next, mut gone) = (Events::with_capacity(256), 0, 0);
    while gone < stop_after {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                on_acceptable(&mut listener, &poll, &mut clients, &mut next)?;
                continue;
            }
            let token = event.token();
            if event.is_readable() && !on_readable(token, &mut clients)? {
                clients.remove(&token); // closed: its state goes with it
                gone += 1;
                continue;
            }
            if event.is_writable() {
                if let Some(client) = clients.get_mut(&token) {
                    flush(client)?;
                }
            }
        }
    }
    Ok(())
}
// ANCHOR_END: loop

fn on_acceptable(
    listener: &mut TcpListener,
    poll: &Poll,
    clients: &mut HashMap<Token, Client>,
    next: &mut usize,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let token = Token(*next);
                *next += 1;
                poll.registry().register(
                    &mut stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                let client = Client {
                    stream,
                    partial_line: Vec::new(),
                    unsent: Vec::new(),
                };
                clients.insert(token, client);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

// ANCHOR: readable
/// Reads what arrived, cuts complete lines out of the partial one, and queues each for the
/// other clients. Returns false when the client has closed.
fn on_readable(token: Token, clients: &mut HashMap<Token, Client>) -> io::Result<bool> {
    let mut lines = Vec::new();
    let open = {
        let Some(client) = clients.get_mut(&token) else {
            return Ok(true);
        };
        let mut buf = [0u8; 1024];
        let open = loop {
            match client.stream.read(&mut buf) {
                Ok(0) => break false,
                Ok(n) => client.partial_line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(e) => return Err(e),
            }
        };
        while let Some(end) = client.partial_line.iter().position(|&b| b == b'\n') {
            lines.push(client.partial_line.drain(..=end).collect::<Vec<u8>>());
        }
        open
    };
    for line in lines {
        for (other, client) in clients.iter_mut() {
            if *other != token {
                client.unsent.extend_from_slice(&line);
                flush(client)?; // try now; the rest waits for a writable event
            }
        }
    }
    Ok(open)
}
// ANCHOR_END: readable

/// Writes as much of the client's unsent bytes as the socket takes.
fn flush(client: &mut Client) -> io::Result<()> {
    while !client.unsent.is_empty() {
        match client.stream.write(&client.unsent) {
            Ok(n) => {
                client.unsent.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
