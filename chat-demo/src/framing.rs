//! Reading lines with a length limit: an overlong line is reported and skipped without ever
//! being held in memory whole, and the connection goes on.

use std::io::{self, Read};

/// One thing read from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A line of valid UTF-8, without its `\n` (and without a trailing `\r`).
    Line(String),
    /// A line longer than the limit; it was discarded.
    TooLong,
    /// A line that is not valid UTF-8; it was discarded.
    InvalidUtf8,
}

/// Bytes asked for per read.
const READ_CHUNK: usize = 1024;

/// Splits a byte stream into lines of at most `max_line` bytes, not counting the line ending
/// (`\n` or `\r\n`).
///
/// # Examples
///
/// ```
/// use chat_demo::framing::{Incoming, LineReader};
/// let input: &[u8] = b"hello\r\nthis line is too long\nok\n8 bytes!\r\nunfinish";
/// let mut lines = LineReader::new(input, 8);
/// assert_eq!(lines.next_line().unwrap(), Some(Incoming::Line("hello".into())));
/// assert_eq!(lines.next_line().unwrap(), Some(Incoming::TooLong));
/// assert_eq!(lines.next_line().unwrap(), Some(Incoming::Line("ok".into())));
/// assert_eq!(lines.next_line().unwrap(), Some(Incoming::Line("8 bytes!".into())));
/// assert_eq!(lines.next_line().unwrap(), None); // the unterminated tail is dropped
/// ```
pub struct LineReader<R> {
    reader: R,
    max_line: usize,
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already searched for a newline.
    scanned: usize,
    /// Inside an overlong line: drop bytes up to the next newline.
    discarding: bool,
}

impl<R: Read> LineReader<R> {
    /// Reads from `reader`, allowing lines of up to `max_line` bytes.
    pub fn new(reader: R, max_line: usize) -> LineReader<R> {
        LineReader {
            reader,
            max_line,
            buffer: Vec::new(),
            scanned: 0,
            discarding: false,
        }
    }

    /// Bytes held for the line being read: never more than `max_line` and a `\r`, plus one
    /// read's worth (1 kB), whatever the peer sends.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next line, or `None` at end of input. An unterminated last line is dropped: in a
    /// line protocol, a client that vanished mid-line (a reset, a crash) said nothing.
    ///
    /// # Errors
    ///
    /// What the underlying reader reports (a timeout, a reset).
    pub fn next_line(&mut self) -> io::Result<Option<Incoming>> {
        loop {
            if let Some(at) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + at;
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                self.scanned = 0;
                // The limit counts the line without its ending, `\n` or `\r\n` alike. A line
                // can also outgrow it within the read that brings its newline.
                let text = &line[..line.len() - 1];
                if std::mem::take(&mut self.discarding) || shown_len(text) > self.max_line {
                    return Ok(Some(Incoming::TooLong));
                }
                return Ok(Some(decode(text)));
            }
            self.scanned = self.buffer.len();
            // One byte over the limit may still be the `\r` of a line that fits.
            if self.buffer.len() > self.max_line + 1 {
                // Too long already: keep nothing of it, skip to the next newline.
                self.discarding = true;
                self.buffer.clear();
                self.scanned = 0;
            }
            // Read straight into the buffer, a little at a time: a parked reader then holds no
            // big scratch array on its stack, which matters with thousands of idle clients.
            let mut chunk = Unfilled::grow(&mut self.buffer, READ_CHUNK.min(self.max_line + 2));
            let read = self.reader.read(chunk.space());
            chunk.keep(*read.as_ref().unwrap_or(&0));
            drop(chunk);
            if read? == 0 {
                self.buffer.clear();
                self.scanned = 0;
                self.discarding = false;
                return Ok(None);
            }
        }
    }
}

/// Room for one read at the end of a buffer. Whatever way the read ends, the buffer keeps
/// only the bytes it filled: a read unwound by a cancel or a `greenhub::timeout` scope must
/// not leave the zeroed room behind, where the next line would pick it up as data.
struct Unfilled<'a> {
    buffer: &'a mut Vec<u8>,
    start: usize,
    filled: usize,
}

impl<'a> Unfilled<'a> {
    fn grow(buffer: &'a mut Vec<u8>, room: usize) -> Unfilled<'a> {
        let start = buffer.len();
        buffer.resize(start + room, 0);
        Unfilled {
            buffer,
            start,
            filled: 0,
        }
    }

    fn space(&mut self) -> &mut [u8] {
        &mut self.buffer[self.start..]
    }

    fn keep(&mut self, filled: usize) {
        self.filled = filled;
    }
}

impl Drop for Unfilled<'_> {
    fn drop(&mut self) {
        self.buffer.truncate(self.start + self.filled);
    }
}

/// The length of a line (without its `\n`) that counts against the limit: not its `\r`, the
/// rest of a `\r\n` ending, which [`decode`] drops too.
fn shown_len(line: &[u8]) -> usize {
    line.strip_suffix(b"\r").unwrap_or(line).len()
}

/// Classifies one line's bytes (without its `\n`): drops a trailing `\r`, checks UTF-8.
///
/// # Examples
///
/// ```
/// use chat_demo::framing::{decode, Incoming};
/// assert_eq!(decode(b"hi\r"), Incoming::Line("hi".into()));
/// assert_eq!(decode(b"\xff"), Incoming::InvalidUtf8);
/// ```
pub fn decode(line: &[u8]) -> Incoming {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(text) => Incoming::Line(text.to_string()),
        Err(_) => Incoming::InvalidUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn a_read_cut_short_by_a_timeout_scope_keeps_the_partial_line_and_adds_nothing() {
        greenhub::run(|| -> io::Result<()> {
            let listener = greenhub::net::TcpListener::bind("127.0.0.1:0")?;
            let mut client = greenhub::net::TcpStream::connect(listener.local_addr()?)?;
            let (server, _) = listener.accept()?;
            let mut lines = LineReader::new(&server, 64);
            client.write_all(b"hel")?;
            // The scope expires while the reader is parked waiting for the rest of the line.
            let cut = greenhub::timeout(Duration::from_millis(50), || lines.next_line());
            assert!(cut.is_err(), "the scope must expire first: {cut:?}");
            assert_eq!(lines.buffered(), 3, "only the bytes that arrived are held");
            client.write_all(b"lo\n")?;
            assert_eq!(lines.next_line()?, Some(Incoming::Line("hello".into())));
            Ok(())
        })
        .unwrap();
    }
}
