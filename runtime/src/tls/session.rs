//! One TLS session (a rustls connection) and the tries made on it. A try never parks: it reads
//! or writes the socket without waiting and says `WouldBlock` when the socket must become ready
//! first. The stream makes its tries under the session's lock and waits with the lock released
//! (see `stream.rs`); the handshake owns its session and needs no lock.
//!
//! Where the bytes of a session are between two calls, whoever made the calls and however they
//! ended (returned, timed out, cancelled):
//!
//! ```text
//!   socket ──read_tls──► records not yet whole ──decrypt──► plaintext ──► a reader's buffer
//!                        (wait here for the rest)          (waits here for the next read)
//!   socket ◄─write_tls── records queued: what writes accepted, answers to what the reader
//!                        decrypted (a key update, an alert), close_notify
//! ```
//!
//! Every byte moves from one place to the next inside one try, under the lock, without a park in
//! between, so a call cut short at its park loses nothing and corrupts nothing.

use crate::net::TcpStream;
use rustls::Connection;
use std::io::{self, ErrorKind, Read, Write};

/// What a reader gets when the peer closed the connection without a `close_notify` alert.
const TRUNCATED: &str = "the peer closed the TCP connection without a TLS close_notify: \
                         what it sent may be cut short";

/// A rustls error as an `io::Error` (`InvalidData`, with the rustls error as its source).
pub(super) fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, err)
}

fn would_block() -> io::Error {
    ErrorKind::WouldBlock.into()
}

/// A rustls connection, and what the stream adds to it.
pub(super) struct Session {
    conn: Connection,
    /// The first TLS error either side met (a bad record, a fatal alert from the peer): every
    /// read and write after it returns it, once the plaintext decrypted before it is read.
    failed: Option<rustls::Error>,
    /// `close_notify` was queued by `shutdown`: nothing may be written after it.
    write_closed: bool,
}

impl Session {
    pub(super) fn new(conn: Connection) -> Session {
        Session {
            conn,
            failed: None,
            write_closed: false,
        }
    }

    pub(super) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Drives the handshake to its end, parking between tries until the socket is ready (with
    /// its read and write timeouts, and inside a `timeout` scope until the scope's deadline).
    ///
    /// # Errors
    ///
    /// `InvalidData` for what TLS refused (a certificate, an alert from the peer), with the
    /// rustls error inside; `UnexpectedEof` when the peer hung up; the socket's errors.
    pub(super) fn handshake(&mut self, tcp: &TcpStream) -> io::Result<()> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                tcp.write_with(|socket| self.push(socket))?;
                continue;
            }
            let got = tcp.read_with(|socket| self.conn.read_tls(socket))?;
            if let Err(err) = self.conn.process_new_packets() {
                // rustls queued an alert telling the peer why; it goes if the socket takes it
                // at once (a peer that does not read learns from the hang-up instead).
                let _ = self.push(&mut tcp.raw());
                return Err(tls_error(err));
            }
            if got == 0 && self.conn.is_handshaking() {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
        // The last flight: a client's Finished, a server's session tickets.
        if self.conn.wants_write() {
            tcp.write_with(|socket| self.push(socket))?;
        }
        Ok(())
    }

    /// Takes plaintext decrypted earlier (what a reader cut short left, or the rest of a record
    /// a smaller buffer took part of). `None` when there is none and the socket must be read.
    pub(super) fn take_plaintext(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let outcome = self.conn.reader().read(buf);
        if matches!(outcome, Ok(n) if n > 0) {
            return Some(outcome);
        }
        if let Some(err) = &self.failed {
            return Some(Err(tls_error(err.clone())));
        }
        match outcome {
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                Some(Err(io::Error::new(ErrorKind::UnexpectedEof, TRUNCATED)))
            }
            // Ok(0): the peer's close_notify, the end of the stream.
            other => Some(other),
        }
    }

    /// Reads the socket into the session until there is plaintext to take or the end of the
    /// stream; `WouldBlock` when the socket has nothing more yet (the records read so far stay
    /// in the session).
    pub(super) fn read_from<S: Read + Write>(
        &mut self,
        socket: &mut S,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        loop {
            if let Some(done) = self.take_plaintext(buf) {
                return done;
            }
            // Ok(0), the end, is seen by `take_plaintext` on the next turn.
            self.conn.read_tls(socket)?;
            let processed = self.conn.process_new_packets();
            // What the records ask the session to send back (the answer to a key update, the
            // alert after a bad record) goes now if the socket takes it at once; the next
            // write or flush sends the rest. A reader never waits to write.
            let _ = self.push(socket);
            if let Err(err) = processed {
                self.failed.get_or_insert(err);
            }
        }
    }

    /// Hands `buf` to the session, once what earlier writes handed it has gone to the socket
    /// (`WouldBlock` until then, with nothing of `buf` taken), and sends what the socket takes
    /// at once. The count returned was taken: it is sent by this call, the next write, or a
    /// flush, whatever the socket says now.
    pub(super) fn write_to<S: Write>(&mut self, socket: &mut S, buf: &[u8]) -> io::Result<usize> {
        self.check_writable()?;
        // Sending what is queued first bounds the session's store to one write's worth (the
        // rustls buffer limit) and keeps a writer from running ahead of the socket.
        self.push(socket)?;
        let taken = self.conn.writer().write(buf)?;
        let _ = self.push(socket);
        Ok(taken)
    }

    /// Sends everything queued; `WouldBlock` while some is left.
    pub(super) fn flush_to<S: Write>(&mut self, socket: &mut S) -> io::Result<()> {
        self.push(socket)?;
        match &self.failed {
            Some(err) => Err(tls_error(err.clone())),
            None => Ok(()),
        }
    }

    /// Queues `close_notify`, after which nothing more may be written.
    pub(super) fn close_write(&mut self) {
        self.conn.send_close_notify();
        self.write_closed = true;
    }

    fn check_writable(&self) -> io::Result<()> {
        if let Some(err) = &self.failed {
            return Err(tls_error(err.clone()));
        }
        if self.write_closed {
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                "the TLS stream was shut down for writing",
            ));
        }
        Ok(())
    }

    /// Sends what the session has queued, as far as the socket takes it without waiting:
    /// `WouldBlock` when some is left.
    pub(super) fn push<S: Write>(&mut self, socket: &mut S) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(socket)? == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }
}

/// A try that could not be made yet: to be retried once the socket is ready.
pub(super) fn is_would_block<T>(outcome: &io::Result<T>) -> bool {
    matches!(outcome, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// `WouldBlock` for a try that found nothing to do without the socket.
pub(super) fn or_would_block<T>(outcome: Option<io::Result<T>>) -> io::Result<T> {
    outcome.unwrap_or_else(|| Err(would_block()))
}
