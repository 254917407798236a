//! The chat benchmark: the greenhub chat server of `chat-demo` against a tokio server speaking
//! the same protocol subset, both driven by `chat-load`'s load generator.

pub mod tokio_server;

use crate::process::announce;
use std::io;

/// The contenders, in the order the driver interleaves them.
pub const CONTENDERS: [&str; 2] = ["greenhub", "tokio"];

/// Serves chat forever on `addr` with the named implementation, on one thread, printing the
/// bound address on stdout first.
pub fn serve(contender: &str, addr: &str) -> io::Result<()> {
    match contender {
        "greenhub" => greenhub_server(addr),
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(tokio_server::serve(
                addr,
                chat_demo::server::Config::default(),
            )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown contender {other}"),
        )),
    }
}

fn greenhub_server(addr: &str) -> io::Result<()> {
    let addr = addr.to_string();
    greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || -> io::Result<()> {
            let listener = greenhub::net::TcpListener::bind(addr.as_str())?;
            announce(listener.local_addr()?);
            let never = std::sync::Arc::new(greenhub::sync::Event::new());
            chat_demo::server::serve(listener, chat_demo::server::Config::default(), never)
        })
}
