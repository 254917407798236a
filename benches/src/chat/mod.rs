//! The chat benchmark: the greenhub chat server of `chat-demo`, on one hub and on every hub,
//! against a tokio server speaking the same protocol subset, on tokio's current-thread and
//! multi-thread runtimes, all driven by `chat-load`'s load generator. `greenhub_web` is the
//! same one-hub greenhub server with its web port open as well, for the WebSocket runs.

pub mod tokio_server;

use crate::peers::greenhub_one_hub_server;
use crate::process::{announce, unknown_contender};
use std::io;

/// The servers compared with line clients only, in the order the driver interleaves them. The `_all_hubs` and `_mt` ones run
/// one hub (worker) per core, unpinned; the others run on one thread pinned to one CPU.
pub const CONTENDERS: [&str; 4] = ["greenhub", "greenhub_all_hubs", "tokio", "tokio_mt"];

/// The one-hub greenhub server with its web port too: it announces `LINE_ADDR WEB_ADDR`.
pub const WITH_WEB: &str = "greenhub_web";

/// Whether `contender` uses every core (and so must not be pinned to one).
pub fn uses_every_core(contender: &str) -> bool {
    contender.ends_with("_all_hubs") || contender.ends_with("_mt")
}

/// Serves chat forever on `addr` with the named implementation, printing the bound address on
/// stdout first ([`WITH_WEB`] prints its web port's address after it, on the same line).
pub fn serve(contender: &str, addr: &str) -> io::Result<()> {
    let config = chat_demo::server::Config::default().without_address_limits();
    match contender {
        "greenhub" => greenhub_server(addr),
        WITH_WEB => greenhub_web_server(addr),
        "greenhub_all_hubs" => greenhub_all_hubs_server(addr),
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(tokio_server::serve(addr, config)),
        "tokio_mt" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(tokio_server::serve(addr, config)),
        "greenhub_cluster" => greenhub_cluster_server(addr),
        other => Err(unknown_contender(other)),
    }
}

/// Names the environment variable that gives `greenhub_cluster` its Redis URL.
pub const CLUSTER_URL_ENV: &str = "CHAT_BENCH_CLUSTER_URL";
/// Names the environment variable that gives `greenhub_cluster` its server id.
pub const SERVER_ID_ENV: &str = "CHAT_BENCH_SERVER_ID";

/// The chat-demo server on one hub, one of a cluster meeting at the Redis that
/// [`CLUSTER_URL_ENV`] names, as [`SERVER_ID_ENV`]; it never shuts down.
fn greenhub_cluster_server(addr: &str) -> io::Result<()> {
    let var = |name: &str| {
        std::env::var(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is not set")))
    };
    let cluster =
        chat_demo::server::ClusterConfig::new(&var(CLUSTER_URL_ENV)?, &var(SERVER_ID_ENV)?)?;
    greenhub_one_hub_server(addr, |listener| {
        let never = std::sync::Arc::new(greenhub::sync::Event::new());
        let config = chat_demo::server::Config {
            cluster: Some(cluster),
            ..chat_demo::server::Config::default().without_address_limits()
        };
        chat_demo::server::serve(listener, config, never)
    })
}

/// The chat-demo server itself, on one hub; it never shuts down.
fn greenhub_server(addr: &str) -> io::Result<()> {
    greenhub_one_hub_server(addr, |listener| {
        let never = std::sync::Arc::new(greenhub::sync::Event::new());
        chat_demo::server::serve(
            listener,
            chat_demo::server::Config::default().without_address_limits(),
            never,
        )
    })
}

/// The chat-demo server on one hub, as [`greenhub_server`], with the web port (page and
/// WebSocket) on another port of the same address (pass port 0); it never shuts down.
fn greenhub_web_server(addr: &str) -> io::Result<()> {
    use chat_demo::server::{ChatServer, Options};
    use greenhub::net::TcpListener;
    let addr = addr.to_string();
    greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || -> io::Result<()> {
            let line = TcpListener::bind(addr.as_str())?;
            let web = TcpListener::bind((line.local_addr()?.ip(), 0))?;
            let options = Options {
                web: Some(web),
                ..Options::default()
            };
            let config = chat_demo::server::Config::default().without_address_limits();
            let server = ChatServer::from_listener_with(line, config, options)?;
            let web = server.web_addr().expect("the web port was given");
            {
                use std::io::Write;
                println!("{} {web}", server.local_addr());
                let _ = std::io::stdout().flush();
            }
            server.run_until(&greenhub::sync::Event::new()); // until killed
            Ok(())
        })
}

/// The chat-demo server on one hub per core, each with its own `SO_REUSEPORT` listener, as
/// `chat-server` runs by default.
fn greenhub_all_hubs_server(addr: &str) -> io::Result<()> {
    let addr = addr.to_string();
    greenhub::Runtime::builder()
        .build()?
        .run(move || -> io::Result<()> {
            let config = chat_demo::server::Config::default().without_address_limits();
            let server = chat_demo::server::ChatServer::bind(addr.as_str(), config)?;
            announce(server.local_addr());
            server.run_until(&greenhub::sync::Event::new()); // until killed
            Ok(())
        })
}
