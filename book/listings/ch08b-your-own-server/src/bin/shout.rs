//! A complete server: every line a client sends comes back in capitals. It stops on Ctrl-C
//! (SIGINT) or SIGTERM, giving the clients still connected a second to finish. Run with
//! `cargo run -p ch08b-your-own-server --bin shout -- 127.0.0.1:7878` and talk to it with
//! `nc 127.0.0.1 7878`.

use greenhub::signal::{Signals, SIGINT, SIGTERM};
use std::io::{self, BufRead, BufReader, Write};
use std::time::Duration;

// ANCHOR: shout
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    greenhub::run(move || {
        let mut signals = Signals::new(&[SIGINT, SIGTERM])?;
        let server = greenhub::StreamServer::bind(addr, |stream, peer| {
            let mut out = &stream;
            for line in BufReader::new(&stream).lines() {
                // One write per reply: `writeln!` would send the text and the newline apart,
                // and Nagle's algorithm could hold the newline back for 40 ms.
                let reply = line.map(|line| format!("{}\n", line.to_uppercase()));
                if let Err(e) = reply.and_then(|reply| out.write_all(reply.as_bytes())) {
                    println!("{peer}: {e}"); // a reset, or a line that is not UTF-8
                    break;
                }
            }
            println!("{peer} left");
        })?
        .start()?;
        println!("listening on {}", server.local_addr());
        let signal = signals.wait()?;
        let cut_off = server.stop(Duration::from_secs(1));
        println!("signal {signal}: stopped, {cut_off} connections cut off");
        Ok(())
    })
}
// ANCHOR_END: shout
