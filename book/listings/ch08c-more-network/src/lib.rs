//! The listings of the chapter "More of the network": UDP, Nagle's algorithm and `BufWriter`,
//! and timeouts on one read against timeouts on a whole operation. Each is a small program
//! in `src/bin/`; the tests run them and compare what they print with `output/`.
//!
//! What the programs share lives here: a peer that writes slowly, for the timeout listing.

use greenhub::net::TcpStream;
use std::io::{self, Write};
use std::time::Duration;

/// Writes `line` one byte at a time with `pause` between bytes: a slow (or hostile) peer that
/// keeps a connection busy without ever finishing a line quickly.
///
/// # Errors
///
/// When a write fails (the reader hung up).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// greenhub::run(|| -> std::io::Result<()> {
///     let stream = greenhub::net::TcpStream::connect("127.0.0.1:7878")?;
///     ch08c_more_network::dribble(&stream, b"hi\n", Duration::from_millis(20))
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dribble(stream: &TcpStream, line: &[u8], pause: Duration) -> io::Result<()> {
    let mut stream = stream;
    for byte in line {
        stream.write_all(std::slice::from_ref(byte))?;
        greenhub::sleep(pause);
    }
    Ok(())
}
