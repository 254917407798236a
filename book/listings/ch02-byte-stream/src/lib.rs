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

// ANCHOR: frames
/// Length-prefixed framing: each message goes out as its length (4 bytes, big-endian) and then
/// its bytes, so a message may hold anything, newlines and zero bytes included.
pub fn write_frame(stream: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let len = u32::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 4 GiB"))?;
    let mut frame = Vec::with_capacity(4 + message.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    stream.write_all(&frame) // one write: the header never goes out without its body
}

/// Reads one frame; `None` when the peer closed between two frames. A length over `max` is
/// refused before a byte of the body is read: the peer decides the length, we decide how much
/// memory it may cost us.
pub fn read_frame(stream: &mut impl Read, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        let e = format!("a frame of {len} bytes is over the limit of {max}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    let mut message = vec![0u8; len];
    stream.read_exact(&mut message)?; // the body may arrive in many reads
    Ok(Some(message))
}
// ANCHOR_END: frames

// ANCHOR: show_frames
/// Reads frames until the peer closes or breaks the protocol, and shows each.
pub fn show_frames(mut stream: TcpStream, log: &mut impl Write) -> io::Result<()> {
    loop {
        match read_frame(&mut stream, 1024) {
            Ok(Some(message)) => writeln!(
                log,
                "frame of {} bytes: {:?}",
                message.len(),
                String::from_utf8_lossy(&message)
            )?,
            Ok(None) => return writeln!(log, "the peer closed between two frames"),
            Err(e) => return writeln!(log, "error: {e}"),
        }
    }
}
// ANCHOR_END: show_frames
