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
    serve_with(listener, stop_after, |_line| {})
}

/// The same, calling `on_line` with each complete line before relaying it.
pub fn serve_with(
    listener: std::net::TcpListener,
    stop_after: usize,
    mut on_line: impl FnMut(&[u8]),
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let (mut events, mut next, mut gone) = (Events::with_capacity(256), 0, 0);
    while gone < stop_after {
        poll.poll(&mut events, None)?;
        let mut leaving = Vec::new();
        for event in &events {
            let token = event.token();
            if token == LISTENER {
                on_acceptable(&mut listener, &poll, &mut clients, &mut next)?;
                continue;
            }
            if event.is_readable() {
                leaving.extend(on_readable(token, &mut clients, &mut on_line));
            }
            if event.is_writable() {
                if let Some(client) = clients.get_mut(&token) {
                    if flush(client).is_err() {
                        leaving.push(token);
                    }
                }
            }
        }
        for token in leaving {
            // Closed, reset, or a broken pipe: that client's problem, never the server's.
            if clients.remove(&token).is_some() {
                gone += 1; // its state goes with it; dropping the stream deregisters it
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
/// other clients. Returns the clients to drop: this one if it closed or failed, and any other
/// whose socket failed while we wrote to it.
fn on_readable(
    token: Token,
    clients: &mut HashMap<Token, Client>,
    on_line: &mut impl FnMut(&[u8]),
) -> Vec<Token> {
    let mut leaving = Vec::new();
    let mut lines = Vec::new();
    let Some(client) = clients.get_mut(&token) else {
        return leaving;
    };
    let mut buf = [0u8; 1024];
    loop {
        match client.stream.read(&mut buf) {
            Ok(n) if n > 0 => client.partial_line.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break, // drained: wait for more
            // 0 is a close; any other error (a reset) ends this client, not the server.
            _ => {
                leaving.push(token);
                break;
            }
        }
    }
    while let Some(end) = client.partial_line.iter().position(|&b| b == b'\n') {
        lines.push(client.partial_line.drain(..=end).collect::<Vec<u8>>());
    }
    for line in lines {
        on_line(&line);
        for (other, client) in clients.iter_mut() {
            if *other != token {
                client.unsent.extend_from_slice(&line);
                if flush(client).is_err() {
                    leaving.push(*other); // try now; the rest waits for a writable event
                }
            }
        }
    }
    leaving
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
