//! The chat server: `chat-server [--listen ADDR] [--web ADDR|off] [--tls-cert F --tls-key F |
//! --self-signed] [--hubs N] [--max-clients N] ...`. Sessions run on every hub (one listener
//! per hub on Linux); browsers chat through the page on the web port.
//! SIGINT or SIGTERM: every client gets a shutdown notice, queues are flushed, exit 0.
//! `--cluster redis://HOST:PORT` shares rooms, nicks and private messages with the other
//! servers pointed at the same Redis.

use chat_demo::server::{ChatServer, Config, Options, WebLimits};
use clap::Parser;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// A multi-client line-based chat server on greenhub green threads.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: String,
    /// Address of the web page and its WebSocket, or "off".
    #[arg(long, default_value = "127.0.0.1:8080")]
    web: String,
    /// TLS on both ports with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key", conflicts_with = "self_signed")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// TLS on both ports with a certificate made at start-up, for trying it locally; prints
    /// how to trust it.
    #[arg(long)]
    self_signed: bool,
    /// Hubs (OS threads running green threads); default: one per core.
    #[arg(long)]
    hubs: Option<usize>,
    /// Clients beyond this many are told the server is full.
    #[arg(long, default_value_t = 10_000)]
    max_clients: usize,
    /// Connections from one IP address beyond this many are refused (0: no limit).
    #[arg(long, default_value_t = 10)]
    max_per_ip: usize,
    /// Connections one IP address may open per minute after a burst of 20 (0: no limit).
    #[arg(long, default_value_t = 30)]
    connects_per_minute: u32,
    /// Longest accepted line, in bytes.
    #[arg(long, default_value_t = 4096)]
    max_line: usize,
    /// Seconds of silence before a client is disconnected.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    /// Seconds a line may take to arrive whole, from its first byte.
    #[arg(long, default_value_t = 30)]
    line_timeout: u64,
    /// Lines queued per client; when they are full, senders wait for room.
    #[arg(long, default_value_t = 256)]
    queue: usize,
    /// Bytes queued per client (the "sendq"); when they are full, senders wait for room.
    #[arg(long, default_value_t = 256 * 1024)]
    sendq_bytes: usize,
    /// Milliseconds a client's socket may accept nothing while its queue is full before the
    /// client is dropped as too slow.
    #[arg(long, default_value_t = 500)]
    slow_grace_ms: u64,
    /// Kernel send buffer per client in bytes (SO_SNDBUF); default: the kernel's autotuning.
    #[arg(long)]
    send_buffer: Option<usize>,
    /// Lines per second per client before its lines are delayed (0: no flood control).
    #[arg(long, default_value_t = 20)]
    max_rate: u32,
    /// Bytes per second per client before its lines are delayed.
    #[arg(long, default_value_t = 8192)]
    max_byte_rate: u32,
    /// Rooms with more members than this do not announce joins, leaves and nick changes.
    #[arg(long, default_value_t = 100)]
    announce_limit: usize,
    /// Share rooms, nicks and private messages with the other servers using this Redis
    /// (redis://HOST:PORT); off by default.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// This server's name in the cluster, in logs and Redis keys (default: "server-PID").
    #[arg(long)]
    server_id: Option<String>,
    /// Milliseconds a nick stays claimed after its server stops renewing it (a crash).
    #[arg(long, default_value_t = 30_000)]
    cluster_ttl_ms: u64,
}

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    match chat_demo::limits::raise_descriptor_limit() {
        Ok(descriptors) => {
            for warning in chat_demo::limits::capacity_warnings(args.max_clients, descriptors) {
                log::warn!("{warning}");
            }
        }
        Err(err) => log::warn!("cannot raise the descriptor limit: {err}"),
    }
    let cluster = match &args.cluster {
        Some(url) => {
            let id = (args.server_id.clone())
                .unwrap_or_else(|| format!("server-{}", std::process::id()));
            let mut cluster = chat_demo::server::ClusterConfig::new(url, &id)?;
            cluster.claim_ttl = Duration::from_millis(args.cluster_ttl_ms.max(300));
            Some(cluster)
        }
        None => None,
    };
    let config = Config {
        max_line: args.max_line,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        line_timeout: Duration::from_secs(args.line_timeout),
        max_clients: args.max_clients,
        max_per_ip: args.max_per_ip,
        connect_burst: 20,
        connects_per_minute: args.connects_per_minute,
        queue: args.queue,
        sendq_bytes: args.sendq_bytes,
        slow_grace: Duration::from_millis(args.slow_grace_ms.max(1)),
        send_buffer: args.send_buffer,
        max_rate: args.max_rate,
        max_byte_rate: args.max_byte_rate,
        announce_limit: args.announce_limit,
        web: WebLimits::default(),
        cluster,
    };
    // With --self-signed: where the certificate went and its key's pin, told once the ports
    // are known.
    let mut trust = None;
    let tls = match (&args.tls_cert, &args.tls_key, args.self_signed) {
        (Some(cert), Some(key), _) => Some(chat_demo::certs::acceptor_from_files(cert, key)?),
        (_, _, true) => {
            let made = chat_demo::certs::self_signed(&["localhost", "127.0.0.1", "::1"])?;
            let path = std::env::temp_dir().join(format!("chat-server-{}.pem", std::process::id()));
            std::fs::write(&path, &made.cert_pem)?;
            trust = Some((path, made.spki_sha256));
            Some(made.acceptor)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut runtime = greenhub::Runtime::builder();
    if let Some(hubs) = args.hubs {
        runtime = runtime.hubs(hubs);
    }
    runtime.build()?.run(move || -> std::io::Result<()> {
        let web = match args.web.as_str() {
            "off" => None,
            addr => Some(greenhub::net::TcpListener::bind(addr).map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("cannot listen for browsers on {addr}: {err} (choose another address with --web ADDR, or --web off)"),
                )
            })?),
        };
        let options = Options { tls, web };
        let server = ChatServer::bind_with(args.listen.as_str(), config, options)?;
        let addr = server.local_addr();
        // The banner is for a person; a closed stdout (a supervisor that stopped reading)
        // must not take the server down, so write errors are ignored.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "chat server listening on {addr}");
        if scheme == "https" {
            let _ = writeln!(
                out,
                "join it with: chat-client --tls --ca CERT.pem {addr}; Ctrl-C stops the server"
            );
        } else {
            let _ = writeln!(
                out,
                "join it with: nc {} {}   (or telnet {0} {1}); Ctrl-C stops the server",
                addr.ip(),
                addr.port()
            );
        }
        if let Some(web) = server.web_addr() {
            let _ = writeln!(out, "chat in a browser at {scheme}://{web}/");
        }
        if let Some((path, pin)) = &trust {
            let _ =
                writeln!(
                out,
                "self-signed certificate for localhost and 127.0.0.1, written to {}; trust it:\n  \
                 chat-client --tls --ca {0} {addr}\n  \
                 curl --cacert {0} https://{}/\n  \
                 chromium --user-data-dir=$(mktemp -d) --ignore-certificate-errors-spki-list={pin} \
                 https://{1}/\n  \
                 (or import the file as an authority in the browser's certificate settings)",
                path.display(),
                server.web_addr().map_or("127.0.0.1:8080".to_string(), |a| a.to_string()),
            );
        }
        let _ = out.flush();
        let shutdown = Arc::new(greenhub::sync::Event::new());
        let mut signals =
            greenhub::signal::Signals::new(&[greenhub::signal::SIGINT, greenhub::signal::SIGTERM])?;
        let trigger = shutdown.clone();
        greenhub::spawn(move || {
            if let Ok(signal) = signals.wait() {
                log::info!("received signal {signal}");
            }
            trigger.set();
        });
        server.run_until(&shutdown);
        let _ = writeln!(std::io::stdout(), "chat server stopped");
        Ok(())
    })
}
