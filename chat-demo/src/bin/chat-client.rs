//! The chat client: `chat-client HOST:PORT`. One green thread reads the keyboard, another the
//! socket, each a plain loop, so typing never blocks what arrives and the other way round.

use clap::Parser;
use greenhub::net::TcpStream;
use std::io::{self, BufRead, BufReader, Write};
use std::time::Duration;

/// Connects to a chat server and relays between it and the terminal. Ctrl-D quits.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's address.
    #[arg(default_value = "127.0.0.1:7878")]
    server: String,
}

/// Connects, saying once that we wait, until the server is up.
fn connect_with_retry(addr: &str) -> io::Result<TcpStream> {
    let mut said_waiting = false;
    loop {
        match TcpStream::connect(addr) {
            Ok(stream) => return Ok(stream),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) =>
            {
                if !said_waiting {
                    eprintln!("waiting for server at {addr}...");
                    said_waiting = true;
                }
                greenhub::sleep(Duration::from_millis(300));
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let code = greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || -> io::Result<i32> {
            let stream = connect_with_retry(&args.server)?;
            eprintln!(
                "connected to {}; type /help for commands, Ctrl-D to quit",
                args.server
            );
            let incoming = stream.try_clone()?;
            let printer = greenhub::spawn(move || {
                let stdout = io::stdout();
                for line in BufReader::new(incoming).lines() {
                    let Ok(line) = line else { break };
                    let mut out = stdout.lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            });
            let typist = greenhub::spawn(move || -> io::Result<()> {
                for line in greenhub::io::stdin().lines() {
                    writeln!(&stream, "{}", line?)?;
                }
                // Ctrl-D: tell the server we are done; it closes its side, which ends the printer.
                stream.shutdown(std::net::Shutdown::Write)
            });
            printer.join().ok();
            if typist.is_finished() {
                typist.join().ok();
                Ok(0)
            } else {
                eprintln!("*** the server closed the connection");
                typist.cancel();
                Ok(1)
            }
        })?;
    std::process::exit(code);
}
