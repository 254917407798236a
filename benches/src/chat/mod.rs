//! The chat benchmark: the greenhub chat server of `chat-demo` against a tokio server speaking
//! the same protocol subset, both driven by `chat-load`'s load generator.

pub mod tokio_server;

use crate::peers::greenhub_one_hub_server;
use crate::process::unknown_contender;
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
        other => Err(unknown_contender(other)),
    }
}

/// The chat-demo server itself, on one hub; it never shuts down.
fn greenhub_server(addr: &str) -> io::Result<()> {
    greenhub_one_hub_server(addr, |listener| {
        let never = std::sync::Arc::new(greenhub::sync::Event::new());
        chat_demo::server::serve(listener, chat_demo::server::Config::default(), never)
    })
}
