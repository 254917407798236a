//! An echo server written the way the first socket tutorial writes it: accept a client, then a
//! plain loop of read, write. Each client gets its own green thread, so one OS thread serves
//! thousands of them.
//!
//! ```text
//! cargo run --release -p greenhub --example echo_server -- 127.0.0.1:7007
//! ```

use greenhub::net::{TcpListener, TcpStream};
use std::io::{self, Read, Write};

/// Echoes everything a client sends until it hangs up.
fn handle(mut client: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        client.write_all(&buf[..n])?;
    }
}

/// Accepts clients forever, one green thread each.
fn serve(listener: TcpListener) -> io::Result<()> {
    for client in listener.incoming() {
        match client {
            Ok(client) => {
                greenhub::spawn(move || {
                    if let Err(err) = handle(client) {
                        eprintln!("client error: {err}");
                    }
                });
            }
            // Out of descriptors and the like: say so, wait a little, keep serving.
            Err(err) => {
                eprintln!("accept failed: {err}");
                greenhub::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7007".into());
    greenhub::run(move || {
        let listener = TcpListener::bind(addr.as_str())?;
        println!("echo server listening on {}", listener.local_addr()?);
        serve(listener)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_each_client_its_own_bytes() -> io::Result<()> {
        greenhub::run(|| -> io::Result<()> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = greenhub::spawn(move || serve(listener));
            let clients: Vec<_> = (0..50u8)
                .map(|i| {
                    greenhub::spawn(move || -> io::Result<()> {
                        let mut stream = TcpStream::connect(addr)?;
                        let message = [i; 300];
                        stream.write_all(&message)?;
                        let mut echoed = [0u8; 300];
                        stream.read_exact(&mut echoed)?;
                        assert_eq!(echoed, message);
                        Ok(())
                    })
                })
                .collect();
            for client in clients {
                client.join().unwrap()?;
            }
            server.cancel();
            Ok(())
        })
    }
}
