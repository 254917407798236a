//! Chapter 3: a one-way chat with `std::net`. The client sends what is typed; the server prints
//! it. Both take their input and output as parameters so the book's tests can drive them.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};

// ANCHOR: server
/// Accepts one client and prints each line it sends, until it hangs up.
pub fn serve_one(listener: &TcpListener, screen: &mut impl Write) -> io::Result<()> {
    let (stream, peer) = listener.accept()?;
    writeln!(screen, "* {} joined", peer.ip())?;
    for line in BufReader::new(stream).lines() {
        writeln!(screen, "{}: {}", peer.ip(), line?)?;
    }
    writeln!(screen, "* {} left", peer.ip())
}
// ANCHOR_END: server

// ANCHOR: client
/// Connects and sends each line of `keyboard` until it ends (Ctrl-D on a terminal).
pub fn type_lines(addr: impl ToSocketAddrs, keyboard: impl BufRead) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    for line in keyboard.lines() {
        // One write per line: `writeln!` would send the text and the newline separately.
        stream.write_all(format!("{}\n", line?).as_bytes())?;
    }
    Ok(()) // the stream closes here, and the server sees the end of its lines
}
// ANCHOR_END: client
