//! Twenty small requests, each written as a header and a body: with Nagle's algorithm on, the
//! body waits for the ACK of the header, which the server delays. Run with
//! `cargo run -p ch08c-more-network --bin nagle`.

use greenhub::net::{TcpListener, TcpStream};
use std::io::{self, BufWriter, Read, Write};
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;

// ANCHOR: server
/// Answers "ok" to each 104-byte request (an 8-byte header and a 96-byte body).
fn serve(listener: TcpListener) -> io::Result<()> {
    let (mut stream, _) = listener.accept()?;
    let mut request = [0u8; 104];
    for _ in 0..ROUNDS {
        stream.read_exact(&mut request)?;
        stream.write_all(b"ok")?;
    }
    Ok(())
}
// ANCHOR_END: server

#[derive(Clone, Copy, Debug)]
enum How {
    TwoWrites,
    TwoWritesNoDelay,
    BufWriter,
}

// ANCHOR: client
fn requests(how: How) -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let stream = TcpStream::connect(listener.local_addr()?)?;
    let server = greenhub::spawn(move || serve(listener));
    if let How::TwoWritesNoDelay = how {
        stream.set_nodelay(true)?;
    }
    let started = Instant::now();
    for _ in 0..ROUNDS {
        match how {
            How::TwoWrites | How::TwoWritesNoDelay => {
                (&stream).write_all(b"LEN:96\r\n")?; // the header: one segment
                (&stream).write_all(&[b'x'; 96])?; // the body: a second one
            }
            How::BufWriter => {
                let mut out = BufWriter::new(&stream);
                out.write_all(b"LEN:96\r\n")?;
                out.write_all(&[b'x'; 96])?;
                out.flush()?; // one write(2), one segment
            }
        }
        (&stream).read_exact(&mut [0u8; 2])?;
    }
    let took = started.elapsed();
    server.join().expect("the server panicked")?;
    Ok(took)
}
// ANCHOR_END: client

fn main() -> io::Result<()> {
    greenhub::run(|| {
        for how in [How::TwoWrites, How::TwoWritesNoDelay, How::BufWriter] {
            let took = requests(how)?;
            println!(
                "{ROUNDS} requests, {how:?}: {:.1} ms, {:.2} ms each",
                took.as_secs_f64() * 1e3,
                took.as_secs_f64() * 1e3 / ROUNDS as f64
            );
        }
        Ok(())
    })
}
