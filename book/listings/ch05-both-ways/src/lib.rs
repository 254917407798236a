//! Chapter 5: talking both ways means waiting on two things at once, the keyboard and the
//! socket. Threads do it; a non-blocking busy loop does it at the cost of a core; sleeping in
//! the loop trades that for latency; poll (here through mio) waits on both for free.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

// ANCHOR: threads
/// Two threads: one copies the socket to the screen, this one copies the keyboard to the
/// socket. Each may block without stopping the other.
pub fn chat_with_threads(
    stream: TcpStream,
    keyboard: impl BufRead,
    mut screen: impl Write + Send + 'static,
) -> io::Result<()> {
    let incoming = stream.try_clone()?;
    let printer = std::thread::spawn(move || -> io::Result<()> {
        for line in BufReader::new(incoming).lines() {
            writeln!(screen, "> {}", line?)?;
        }
        Ok(())
    });
    let mut outgoing = stream;
    for line in keyboard.lines() {
        outgoing.write_all(format!("{}\n", line?).as_bytes())?; // one write per line
    }
    outgoing.shutdown(std::net::Shutdown::Write)?; // we are done talking; keep listening
    printer.join().expect("the printer thread panicked")
}
// ANCHOR_END: threads

/// Time this thread has spent on a CPU or queued for one (not asleep) so far: the first two
/// fields of Linux's schedstat (zero elsewhere). Queued time counts too, so that a machine busy
/// with other work does not make the loop look idle.
fn thread_awake() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            let mut fields = s.split_whitespace().map(|f| f.parse::<u64>().ok());
            Some(fields.next()?? + fields.next()??)
        })
        .map_or(Duration::ZERO, Duration::from_nanos)
}

// ANCHOR: busy
/// Without threads: make the socket non-blocking and ask again and again. Nothing arrives
/// for 200 ms, and the loop burns the whole time asking.
pub fn busy_loop(mut stream: TcpStream, log: &mut impl Write) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let (start, awake_before, mut asked) = (Instant::now(), thread_awake(), 0u64);
    let mut buf = [0u8; 512];
    while start.elapsed() < Duration::from_millis(200) {
        match stream.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => asked += 1, // nothing yet: ask again
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    let awake = (thread_awake() - awake_before).as_secs_f64() / start.elapsed().as_secs_f64();
    writeln!(
        log,
        "asked more than 10,000 times in 200 ms: {}",
        asked > 10_000
    )?;
    writeln!(log, "never slept while it waited: {}", awake > 0.9)
}
// ANCHOR_END: busy

// ANCHOR: napping
/// The same loop with a 20 ms nap when nothing is there: cheap, but a line that arrives just
/// after a look waits for the next one. Returns how late the line was noticed.
pub fn napping_loop(mut stream: TcpStream, sent_at: Instant) -> io::Result<Duration> {
    stream.set_nonblocking(true)?;
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(_) => return Ok(sent_at.elapsed()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}
// ANCHOR_END: napping

// ANCHOR: poll
/// One thread waits on both sources at once: the kernel wakes it when either is readable.
pub fn poll_both(
    socket: TcpStream,
    keyboard: std::os::unix::net::UnixStream,
    log: &mut impl Write,
) -> io::Result<()> {
    use mio::{Events, Interest, Poll, Token};
    const SOCKET: Token = Token(0);
    const KEYBOARD: Token = Token(1);
    socket.set_nonblocking(true)?;
    keyboard.set_nonblocking(true)?;
    let mut socket = mio::net::TcpStream::from_std(socket);
    let mut keyboard = mio::net::UnixStream::from_std(keyboard);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    poll.registry()
        .register(&mut keyboard, KEYBOARD, Interest::READABLE)?;
    let (mut events, mut open) = (Events::with_capacity(8), 2);
    while open > 0 {
        poll.poll(&mut events, None)?; // sleeps, using no CPU, until something is ready
        for event in &events {
            let (name, source): (&str, &mut dyn Read) = if event.token() == SOCKET {
                ("socket", &mut socket)
            } else {
                ("keyboard", &mut keyboard)
            };
            let mut buf = [0u8; 512];
            loop {
                match source.read(&mut buf) {
                    Ok(0) => {
                        writeln!(log, "{name}: closed")?;
                        open -= 1;
                        break;
                    }
                    Ok(n) => write!(log, "{name}: {}", String::from_utf8_lossy(&buf[..n]))?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break, // drained
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}
// ANCHOR_END: poll

// ANCHOR: turns
/// The obvious two-way client, one thread: wait for a line from the other side, show it, then
/// send the next line typed. Fine if the other side speaks first, and stuck for good if it
/// waits for us: each end is blocked in `read`, waiting for the other to write.
pub fn talk_in_turns(
    stream: TcpStream,
    keyboard: impl BufRead,
    screen: &mut impl Write,
) -> io::Result<()> {
    let mut incoming = BufReader::new(stream.try_clone()?);
    let mut outgoing = stream;
    for typed in keyboard.lines() {
        let mut heard = String::new();
        if incoming.read_line(&mut heard)? == 0 {
            return Ok(()); // the other side closed
        }
        write!(screen, "> {heard}")?;
        outgoing.write_all(format!("{}\n", typed?).as_bytes())?;
    }
    Ok(())
}
// ANCHOR_END: turns

// ANCHOR: half_close
/// Sends a whole request, then says "that is all" with `shutdown(Write)`: the other side reads
/// to the end of our data, and we can still read its answer on the same connection.
pub fn ask(stream: &TcpStream, request: &str, half_close: bool) -> io::Result<String> {
    (&*stream).write_all(request.as_bytes())?;
    if half_close {
        stream.shutdown(std::net::Shutdown::Write)?; // sends FIN; our reading side stays open
    }
    let mut answer = String::new();
    (&*stream).read_to_string(&mut answer)?;
    Ok(answer)
}

/// A server that needs the whole request before it can answer: it counts lines and bytes
/// until the client's end of data, replies, and closes.
pub fn count_until_the_end(mut stream: TcpStream) -> io::Result<()> {
    let mut request = String::new();
    stream.read_to_string(&mut request)?; // returns only at the client's FIN
    let reply = format!(
        "{} lines, {} bytes\n",
        request.lines().count(),
        request.len()
    );
    stream.write_all(reply.as_bytes())
}
// ANCHOR_END: half_close
