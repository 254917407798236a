//! Standard input, read without blocking the hub: through the reactor when descriptor 0 can be
//! polled, through a reader thread when it is a regular file.

use super::source::{Direction, Source};
use crate::hub::interrupt;
use crate::sync::{Mutex, MutexGuard, Receiver};
use crate::sys::os_result;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;

/// Descriptor 0, which the process owns; the reactor only borrows it.
struct StdinFd;

impl AsRawFd for StdinFd {
    fn as_raw_fd(&self) -> RawFd {
        0
    }
}

/// How standard input is read: a terminal or a pipe signals readiness through the reactor; a
/// regular file is always "ready" yet can still block on a slow disk, so a thread of its own
/// reads it ahead into a channel. Either way a read that is cancelled or times out leaves what
/// was read in the buffer (or the channel) for the next one: nothing is lost.
enum Mode {
    Reactor(Source<StdinFd>),
    ReaderThread(Receiver<io::Result<Vec<u8>>>),
}

/// Starts the thread that reads standard input ahead, one chunk at a time.
fn reader_thread() -> Mode {
    let (chunks, received) = crate::sync::bounded(1);
    let started = std::thread::Builder::new()
        .name("greenhub-stdin".into())
        .spawn(move || loop {
            let mut chunk = vec![0u8; 8192];
            let read = io::stdin().lock().read(&mut chunk).map(|n| {
                chunk.truncate(n);
                chunk
            });
            let end = !matches!(&read, Ok(chunk) if !chunk.is_empty());
            if chunks.send(read).is_err() || end {
                return;
            }
        });
    if let Err(err) = started {
        // Reported by the first read; later reads see end of input.
        let (failed, received) = crate::sync::bounded(1);
        let _ = failed.try_send(Err(err));
        return Mode::ReaderThread(received);
    }
    Mode::ReaderThread(received)
}

struct StdinState {
    mode: Mode,
    buffer: Vec<u8>,
    start: usize,
}

fn shared() -> &'static Mutex<StdinState> {
    static STDIN: OnceLock<Mutex<StdinState>> = OnceLock::new();
    STDIN.get_or_init(|| {
        // SAFETY: fstat gets a valid descriptor number and a valid out-pointer.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let is_file = unsafe { libc::fstat(0, &mut stat) } == 0
            && (stat.st_mode & libc::S_IFMT) == libc::S_IFREG;
        let mode = if is_file {
            reader_thread()
        } else {
            Mode::Reactor(Source::new(StdinFd))
        };
        Mutex::new(StdinState {
            mode,
            buffer: Vec::new(),
            start: 0,
        })
    })
}

/// Takes the stdin lock without blocking the hub. It is held across parks (a read waits for
/// input holding it), so it is a [`Mutex`] of this crate: while another green thread holds it,
/// this one parks until it is released (a plain OS thread blocks). That wait is a cancellation
/// point like any park: a reader cancelled or timed out there leaves without the lock and has
/// read nothing, so whatever is buffered stays for the next reader. A reader that panics or is
/// cancelled while holding the lock releases it (this mutex is not poisoned).
fn lock() -> MutexGuard<'static, StdinState> {
    let guard = shared().lock();
    // Getting the lock is not the read. A reader cancelled (or whose deadline passed) while it
    // waited may have been handed the lock before it ran again; it must still leave without
    // reading, or it would take a buffered line away from the next reader.
    if let Some(interrupt) = interrupt::pending() {
        drop(guard);
        interrupt.raise();
    }
    guard
}

/// One read(2) of descriptor 0 that cannot block: poll says data (or end of input) is there.
fn read_ready_stdin(buf: &mut [u8]) -> io::Result<usize> {
    let mut pollfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pollfd` is one valid pollfd for the duration of the call.
    os_result(unsafe { libc::poll(&mut pollfd, 1, 0) })?;
    if pollfd.revents == 0 {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we borrow mutably.
    let n = os_result(unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

impl StdinState {
    /// Reads more input into the buffer; returns how much (0 at end of input).
    /// Reads more input onto the end of the buffer (what was not consumed yet stays); returns
    /// how much, 0 at end of input.
    fn fill(&mut self) -> io::Result<usize> {
        let chunk = match &self.mode {
            Mode::Reactor(source) => {
                let mut chunk = vec![0u8; 8192];
                match source.io_with(Direction::Read, None, |_| read_ready_stdin(&mut chunk)) {
                    // A descriptor epoll refuses (such as /dev/null) is always ready anyway.
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                        self.mode = reader_thread();
                        return self.fill();
                    }
                    other => chunk.truncate(other?),
                }
                chunk
            }
            Mode::ReaderThread(chunks) => match chunks.recv() {
                Ok(chunk) => chunk?,
                Err(_) => Vec::new(), // the reader saw the end
            },
        };
        self.buffer.drain(..self.start);
        self.start = 0;
        self.buffer.extend_from_slice(&chunk);
        Ok(chunk.len())
    }
}

/// A handle to cooperative standard input; see [`stdin`].
#[derive(Debug, Clone, Copy)]
pub struct Stdin {
    _private: (),
}

/// Standard input for green threads: reading parks the calling green thread until a line (or
/// any input) arrives, so the hub keeps serving everyone else. Works when stdin is a terminal,
/// a pipe or a regular file. All handles share one buffer; read it from one green thread at a
/// time.
///
/// # Examples
///
/// ```no_run
/// greenhub::run(|| -> std::io::Result<()> {
///     let mut line = String::new();
///     while greenhub::io::stdin().read_line(&mut line)? > 0 {
///         print!("you typed: {line}");
///         line.clear();
///     }
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stdin() -> Stdin {
    Stdin { _private: () }
}

impl Stdin {
    /// Appends the next line, including its `\n`, to `line`; returns the bytes read, 0 at end of
    /// input.
    ///
    /// # Errors
    ///
    /// `InvalidData` when the line is not UTF-8 (the bytes are consumed), or a read error.
    pub fn read_line(&self, line: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let n = self.read_until(b'\n', &mut bytes)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "stdin line is not valid UTF-8")
        })?;
        line.push_str(&text);
        Ok(n)
    }

    /// Reads up to and including `delimiter` into `out`; returns the bytes read.
    ///
    /// # Errors
    ///
    /// A read error.
    pub fn read_until(&self, delimiter: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut shared = lock();
        // Nothing is consumed until the line is complete: a read cut short (cancelled, timed
        // out) leaves the part it saw in the buffer for the next one.
        let mut searched = 0;
        loop {
            let available = &shared.buffer[shared.start..];
            if let Some(at) = available[searched..].iter().position(|&b| b == delimiter) {
                let line = searched + at + 1;
                out.extend_from_slice(&available[..line]);
                shared.start += line;
                return Ok(line);
            }
            searched = available.len();
            if shared.fill()? == 0 {
                let rest = shared.buffer.len() - shared.start;
                out.extend_from_slice(&shared.buffer[shared.start..]);
                shared.start = shared.buffer.len();
                return Ok(rest);
            }
        }
    }

    /// The lines of standard input, without their line endings (`\n` or `\r\n`).
    pub fn lines(self) -> Lines {
        Lines { stdin: self }
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut shared = lock();
        if shared.start == shared.buffer.len() && shared.fill()? == 0 {
            return Ok(0);
        }
        let available = &shared.buffer[shared.start..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        shared.start += n;
        Ok(n)
    }
}

/// The iterator returned by [`Stdin::lines`].
#[derive(Debug)]
pub struct Lines {
    stdin: Stdin,
}

impl Iterator for Lines {
    type Item = io::Result<String>;

    fn next(&mut self) -> Option<io::Result<String>> {
        let mut line = String::new();
        match self.stdin.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                if line.ends_with('\n') {
                    line.pop();
                    if line.ends_with('\r') {
                        line.pop();
                    }
                }
                Some(Ok(line))
            }
            Err(e) => Some(Err(e)),
        }
    }
}
