//! Chapter 2: TCP carries a stream of bytes, not messages. Sends and receives do not line up,
//! `write` may take only part of a buffer, a read of 0 means the peer closed, and lines are a
//! framing we add on top.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

// ANCHOR: pieces
/// Sends two lines in three writes that cut across the line ends, pausing between them.
pub fn send_in_pieces(mut stream: TcpStream) -> io::Result<()> {
    for piece in ["hel", "lo\nwor", "ld\n"] {
        stream.write_all(piece.as_bytes())?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(()) // closing the stream is how the reader learns there is no more
}
// ANCHOR_END: pieces

// ANCHOR: raw_reads
/// Prints what each `read` returns: whatever bytes had arrived, never "one message".
pub fn show_raw_reads(mut stream: TcpStream, log: &mut impl Write) -> io::Result<()> {
    let mut buf = [0u8; 64];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            writeln!(log, "read returned 0: the peer closed, stop reading")?;
            return Ok(());
        }
        writeln!(
            log,
            "read {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        )?;
    }
}
// ANCHOR_END: raw_reads

// ANCHOR: lines
/// The same stream framed into lines: `BufReader` keeps the bytes past a `\n` for next time.
pub fn show_lines(stream: TcpStream, log: &mut impl Write) -> io::Result<()> {
    for line in BufReader::new(stream).lines() {
        writeln!(log, "line: {:?}", line?)?;
    }
    writeln!(log, "no more lines: the peer closed")
}
// ANCHOR_END: lines

// ANCHOR: partial_write
/// `write` reports how much it took. On a non-blocking socket whose peer is not reading, a big
/// buffer only partly fits; `write_all` is the loop that sends the rest.
pub fn show_partial_write(stream: &TcpStream, log: &mut impl Write) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let big = vec![b'x'; 32 * 1024 * 1024];
    let taken = (&*stream).write(&big)?;
    writeln!(
        log,
        "asked to write {} bytes, write took {} (all of it: {})",
        big.len(),
        if taken < big.len() { "fewer" } else { "all" },
        taken == big.len()
    )?;
    stream.set_nonblocking(false)
}
// ANCHOR_END: partial_write
