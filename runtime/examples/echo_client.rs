//! An echo client: sends each line typed on standard input to the server and prints the reply.
//! Reading the keyboard parks only this green thread (see `greenhub::io::stdin`).
//!
//! ```text
//! cargo run --release -p greenhub --example echo_client -- 127.0.0.1:7007
//! ```

use greenhub::net::TcpStream;
use std::io::{self, BufRead, BufReader, Write};

/// Sends each line and returns the replies, in order.
fn echo_lines(
    stream: &TcpStream,
    lines: impl Iterator<Item = io::Result<String>>,
) -> io::Result<Vec<String>> {
    let mut replies = BufReader::new(stream).lines();
    let mut echoed = Vec::new();
    for line in lines {
        writeln!(&*stream, "{}", line?)?;
        match replies.next() {
            Some(reply) => echoed.push(reply?),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server went away",
                ))
            }
        }
    }
    Ok(echoed)
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7007".into());
    greenhub::run(move || -> io::Result<()> {
        let stream = TcpStream::connect(addr.as_str())?;
        let lines = greenhub::io::stdin().lines();
        for reply in echo_lines(&stream, lines)? {
            println!("{reply}");
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenhub::net::TcpListener;
    use std::io::Read;

    #[test]
    fn sends_lines_and_prints_replies() -> io::Result<()> {
        greenhub::run(|| -> io::Result<()> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = greenhub::spawn(move || -> io::Result<()> {
                let (mut peer, _) = listener.accept()?;
                let mut buf = [0u8; 1024];
                loop {
                    let n = peer.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    peer.write_all(&buf[..n])?;
                }
            });
            let stream = TcpStream::connect(addr)?;
            let lines = ["hello", "green threads"]
                .into_iter()
                .map(|s| Ok(s.to_string()));
            assert_eq!(echo_lines(&stream, lines)?, ["hello", "green threads"]);
            drop(stream);
            server.join().unwrap()
        })
    }
}
