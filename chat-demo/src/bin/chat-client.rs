//! The chat client: `chat-client [--tls --ca FILE] HOST:PORT`. One green thread reads the
//! keyboard, another the socket, each a plain loop, so typing never blocks what arrives and the
//! other way round. Over TLS both share one `TlsStream`, which allows a reader and a writer.

use clap::Parser;
use greenhub::net::TcpStream;
use greenhub::tls::TlsStream;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Connects to a chat server and relays between it and the terminal. Ctrl-D quits.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's address.
    #[arg(default_value = "127.0.0.1:7878")]
    server: String,
    /// Speak TLS (to a chat-server started with --tls-cert or --self-signed).
    #[arg(long, requires = "ca")]
    tls: bool,
    /// With --tls: trust the certificates in this PEM file (the server's, or its authority's).
    #[arg(long)]
    ca: Option<PathBuf>,
}

/// The connection both green threads use.
enum Link {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// One side's handle on the shared [`Link`].
#[derive(Clone)]
struct Side(Arc<Link>);

impl Read for Side {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &*self.0 {
            Link::Plain(tcp) => (&*tcp).read(buf),
            Link::Tls(tls) => (&**tls).read(buf),
        }
    }
}

impl Write for Side {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &*self.0 {
            Link::Plain(tcp) => (&*tcp).write(buf),
            Link::Tls(tls) => (&**tls).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &*self.0 {
            Link::Plain(tcp) => (&*tcp).flush(),
            Link::Tls(tls) => (&**tls).flush(),
        }
    }
}

impl Side {
    /// Ends our half: over TLS with `close_notify`.
    fn shutdown_write(&self) -> io::Result<()> {
        match &*self.0 {
            Link::Plain(tcp) => tcp.shutdown(std::net::Shutdown::Write),
            Link::Tls(tls) => tls.shutdown(std::net::Shutdown::Write),
        }
    }
}

/// Connects (waiting for the server) and, with `--tls`, runs the handshake.
fn connect(args: &Args) -> io::Result<Side> {
    let tcp = connect_with_retry(&args.server)?;
    let link = match (&args.ca, args.tls) {
        (Some(ca), true) => {
            let connector = chat_demo::certs::connector_trusting(ca)?;
            let host = args
                .server
                .rsplit_once(':')
                .map_or(&*args.server, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Link::Tls(Box::new(connector.connect(host, tcp)?))
        }
        _ => Link::Plain(tcp),
    };
    Ok(Side(Arc::new(link)))
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
            let stream = connect(&args)?;
            eprintln!(
                "connected to {}{}; type /help for commands, Ctrl-D to quit",
                args.server,
                if args.tls { " over TLS" } else { "" }
            );
            let incoming = stream.clone();
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
                let mut stream = stream;
                for line in greenhub::io::stdin().lines() {
                    writeln!(stream, "{}", line?)?;
                    stream.flush()?;
                }
                // Ctrl-D: tell the server we are done; it closes its side, which ends the printer.
                stream.shutdown_write()
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
