//! End-to-end chat: 1,000 clients in one room, each sending numbered lines at a set rate, against
//! the greenhub chat server of `chat-demo` (on one hub, and on one hub per core) and a tokio
//! server with the same protocol subset (on tokio's current-thread and multi-thread runtimes).
//!
//! Each server runs in its own process, on one thread pinned to CPU 0, or (greenhub_all_hubs,
//! tokio_mt) on one thread per core, unpinned; `chat-load`'s generator runs here on one hub
//! pinned to CPU 1 and checks every delivery (exactly once, in order). On a machine with two
//! cores the all-core servers share CPU 1 with the generator.
//! Rounds interleave the contenders and the report gives medians. `--quick` runs one short round
//! with 200 clients.
//!
//! Browsers: the row `greenhub_half_websocket` is the one-hub greenhub server under the same
//! load with half of the clients on WebSocket (its web port, the page's protocol), and the idle
//! row `greenhub_websocket` counts what an idle WebSocket client costs beside a line client.
//!
//! Last, two chat servers sharing the room through Redis against one server, same load
//! (`-- --cluster-only` runs just that part, without recording it).
//!
//! `cargo bench -p greenhub-benches --bench chat [-- --quick] [--idle-only] [--cluster-only]`

use chat_demo::load::{LoadConfig, LoadReport};
use greenhub_benches::chat::{uses_every_core, WITH_WEB};
use greenhub_benches::process::{
    median, pin_load_generator, process_cpu_ns, start_announced, unpin,
};
use greenhub_benches::rss::{peak_resident_bytes_of_pid, resident_bytes_of_pid};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

struct Sample {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    lost: u64,
    server_cpu_us_per_delivery: f64,
    peak_rss_mib: f64,
}

/// The rows of the load table: each names its contender and the share of its clients that
/// connect as browsers (by WebSocket to the web port) rather than as line clients.
const ROWS: [(&str, &str, Share); 5] = [
    ("greenhub", "greenhub", Share::Lines),
    ("greenhub_all_hubs", "greenhub_all_hubs", Share::Lines),
    ("tokio", "tokio", Share::Lines),
    ("tokio_mt", "tokio_mt", Share::Lines),
    ("greenhub_half_websocket", WITH_WEB, Share::Half),
];

/// Which of a row's clients are browsers: none, half of them, or all.
#[derive(Clone, Copy, PartialEq)]
enum Share {
    Lines,
    Half,
    All,
}

/// The line port and, for [`WITH_WEB`], the web port a server announced.
fn ports(announced: &str) -> (String, Option<String>) {
    let mut addrs = announced.split_whitespace().map(str::to_string);
    let line = addrs.next().unwrap_or_default();
    (line, addrs.next())
}

fn one_run(
    contender: &str,
    share: Share,
    clients: usize,
    rate: f64,
    messages: usize,
) -> std::io::Result<Sample> {
    let (mut server, announced) = start_server(contender)?;
    let (addr, web) = ports(&announced);
    let web_clients = match share {
        Share::Lines => 0,
        Share::Half => clients / 2,
        Share::All => clients,
    };
    if web_clients > 0 && web.is_none() {
        server.kill()?;
        return Err(std::io::Error::other(format!(
            "{contender} has no web port"
        )));
    }
    let config = LoadConfig {
        server: addr,
        clients: clients - web_clients,
        rooms: 1,
        messages,
        rate,
        timeout: Duration::from_secs(30),
        burst: false,
        web: web.unwrap_or_default(),
        web_clients,
    };
    let pid = server.id();
    let cpu_before = process_cpu_ns(pid).unwrap_or(0);
    let report: std::io::Result<LoadReport> = greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || chat_demo::load::run(&config, |_| {}));
    let server_cpu_ns = process_cpu_ns(pid).unwrap_or(0) - cpu_before;
    let peak = peak_resident_bytes_of_pid(pid).unwrap_or(0);
    server.kill()?;
    server.wait()?;
    let report = report?;
    Ok(Sample {
        per_second: report.per_second(),
        p50_ms: report.latency_us(0.50) as f64 / 1000.0,
        p99_ms: report.latency_us(0.99) as f64 / 1000.0,
        lost: report.lost() + report.duplicates + report.out_of_order,
        server_cpu_us_per_delivery: server_cpu_ns as f64 / 1000.0 / report.delivered.max(1) as f64,
        peak_rss_mib: peak as f64 / (1024.0 * 1024.0),
    })
}

/// Starts `contender`'s server, pinned to CPU 0 or (for the all-core ones) free to use every
/// core, and returns it with its address.
fn start_server(contender: &str) -> std::io::Result<(std::process::Child, String)> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat_bench_server"));
    if uses_every_core(contender) {
        command.args([contender, "127.0.0.1:0"]);
        // This process is pinned to CPU 1 and a child inherits that; undo it in the child.
        // SAFETY: only the sched_setaffinity system call runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                unpin();
                Ok(())
            });
        }
    } else {
        command.args([contender, "127.0.0.1:0", "0"]);
    }
    start_announced(command)
}

/// The idle rows: each names its contender and whether its clients are browsers.
const IDLE_ROWS: [(&str, &str, Share); 3] = [
    ("greenhub", "greenhub", Share::Lines),
    ("tokio", "tokio", Share::Lines),
    ("greenhub_websocket", WITH_WEB, Share::All),
];

/// Server resident memory per idle client, in KiB: `clients` connect, each reads its welcome
/// line, then everyone sits still for a second. With [`Share::All`] every one of them
/// is a browser: a WebSocket to the web port, welcomed in a text frame.
fn idle_kib_per_client(contender: &str, share: Share, clients: usize) -> std::io::Result<f64> {
    let (mut server, announced) = start_server(contender)?;
    let (addr, web) = ports(&announced);
    if share != Share::Lines && web.is_none() {
        server.kill()?;
        return Err(std::io::Error::other(format!(
            "{contender} has no web port"
        )));
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = resident_bytes_of_pid(server.id()).unwrap_or(0);
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        let stream = match (&web, share) {
            (Some(web), Share::All) => {
                let mut stream = std::net::TcpStream::connect(web.as_str())?;
                write!(
                    stream,
                    "GET /ws HTTP/1.1\r\nHost: {web}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: Z3JlZW5odWIgaWRsZSBrZXk=\r\n\r\n"
                )?;
                stream
            }
            _ => std::net::TcpStream::connect(addr.as_str())?,
        };
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        connections.push(BufReader::new(stream));
    }
    let mut welcome = String::new();
    for connection in &mut connections {
        welcome.clear();
        if share == Share::All {
            welcome_frame(connection)?;
            continue;
        }
        connection.read_line(&mut welcome)?;
        assert!(welcome.starts_with("*** welcome"), "{welcome}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = resident_bytes_of_pid(server.id()).unwrap_or(0);
    server.kill()?;
    server.wait()?;
    Ok(after.saturating_sub(before) as f64 / 1024.0 / clients as f64)
}

/// Reads a WebSocket's `101 Switching Protocols` and the text frame of the chat's welcome
/// after it (the welcome is short, so its frame has a two-byte header and no mask).
fn welcome_frame(connection: &mut BufReader<std::net::TcpStream>) -> std::io::Result<()> {
    let mut head = String::new();
    connection.read_line(&mut head)?;
    assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
    loop {
        head.clear();
        connection.read_line(&mut head)?;
        if head.trim().is_empty() {
            break;
        }
    }
    let mut header = [0u8; 2];
    connection.read_exact(&mut header)?;
    assert_eq!(header[0], 0x81, "the welcome is one text frame");
    let mut len = usize::from(header[1] & 0x7f);
    if len == 126 {
        let mut extended = [0u8; 2];
        connection.read_exact(&mut extended)?;
        len = usize::from(u16::from_be_bytes(extended));
    }
    let mut text = vec![0u8; len];
    connection.read_exact(&mut text)?;
    assert!(text.starts_with(b"*** welcome"), "{text:?}");
    Ok(())
}

/// Raises this process's descriptor limit as far as allowed; returns how many clients fit.
fn idle_clients_that_fit(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit get a valid pointer to an rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    wanted.min((limit.rlim_cur as usize).saturating_sub(100))
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--cluster-only") {
        pin_load_generator();
        cluster_comparison(quick)?;
        return Ok(());
    }
    // `--idle-only`: the idle table alone; `--only ROW,ROW`: those rows of both tables alone.
    // Either way the tables are printed and not recorded (for comparing commits or rows).
    let idle_only = args.iter().any(|a| a == "--idle-only");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|rows| rows.split(',').map(str::to_string).collect());
    let wanted_row = |row: &str| only.as_ref().is_none_or(|o| o.iter().any(|r| r == row));
    let rows_run: Vec<(&str, &str, Share)> = ROWS
        .into_iter()
        .filter(|(row, _, _)| wanted_row(row))
        .collect();
    // (messages per second per client, messages per client): about 8 s of sending each.
    let (rounds, clients, loads): (usize, usize, &[(f64, usize)]) = if quick {
        (1, 200, &[(1.0, 2)])
    } else {
        (3, 1000, &[(0.25, 2), (0.5, 4), (1.0, 8)])
    };
    pin_load_generator();
    println!("# Chat: {clients} clients in one room, {rounds} interleaved round(s), medians\n");
    println!("| offered deliveries/s | server | deliveries/s | p50 ms | p99 ms | lost | server CPU us/delivery | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &(rate, messages) in loads.iter().filter(|_| !idle_only) {
        let offered = clients as f64 * (clients - 1) as f64 * rate;
        let mut samples: Vec<Vec<Sample>> = rows_run.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, (_, contender, share)) in rows_run.iter().enumerate() {
                samples[i].push(one_run(contender, *share, clients, rate, messages)?);
            }
        }
        for ((contender, _, _), runs) in rows_run.iter().zip(&samples) {
            let pick = |f: fn(&Sample) -> f64| median(runs.iter().map(f).collect());
            let (per_second, p50_ms, p99_ms) = (
                pick(|s| s.per_second),
                pick(|s| s.p50_ms),
                pick(|s| s.p99_ms),
            );
            let lost = runs.iter().map(|s| s.lost).sum::<u64>();
            let (cpu, peak) = (
                pick(|s| s.server_cpu_us_per_delivery),
                pick(|s| s.peak_rss_mib),
            );
            println!(
                "| {offered:.0} | {contender} | {per_second:.0} | {p50_ms:.1} | {p99_ms:.1} | {lost} | {cpu:.3} | {peak:.1} |"
            );
            rows.push(serde_json::json!({
                "clients": clients, "offered_per_s": offered, "server": contender,
                "deliveries_per_s": per_second, "p50_ms": p50_ms, "p99_ms": p99_ms, "lost": lost,
                "cpu_us_per_delivery": cpu, "peak_rss_mib": peak,
            }));
        }
    }
    let wanted = if quick { 1_000 } else { 10_000 };
    let idle = idle_clients_that_fit(wanted);
    if idle < wanted {
        println!("\nnote: the descriptor limit allows only {idle} of {wanted} idle clients");
    }
    println!("\n# Idle clients: server resident memory per connected, welcomed client\n");
    println!("| clients | server | KiB per client |");
    println!("|---|---|---|");
    let mut idle_rows = Vec::new();
    // Memory per idle client does not depend on the thread count: one of each kind.
    for (row, contender, share) in IDLE_ROWS.into_iter().filter(|(row, _, _)| wanted_row(row)) {
        let kib = idle_kib_per_client(contender, share, idle)?;
        println!("| {idle} | {row} | {kib:.1} |");
        idle_rows.push(serde_json::json!({"clients": idle, "server": row, "kib_per_client": kib}));
    }
    if idle_only || only.is_some() {
        return Ok(());
    }
    let cluster = cluster_comparison(quick)?;
    greenhub_benches::results::record(
        "chat",
        &serde_json::json!({"rounds": rounds, "rows": rows, "idle": idle_rows, "cluster": cluster}),
    )
}

/// What the cluster comparison measured of one setup.
struct ClusterSample {
    run: Sample,
    /// CPU of Redis per delivery, in microseconds (0 for one server).
    broker_cpu_us_per_delivery: f64,
}

/// Two chat servers sharing one room through Redis against one server, same load: half the
/// clients on each server. Everything under test (one server; or two servers and Redis) runs
/// on CPU 0, so the rows compare the same CPU budget. Returns the rows, or why there are none.
fn cluster_comparison(quick: bool) -> std::io::Result<serde_json::Value> {
    let (rounds, clients, rate, messages) = if quick {
        (1, 200, 1.0, 2)
    } else {
        (3, 1000, 0.5, 4)
    };
    let mut redis = match chat_demo::child::RedisProcess::start() {
        Ok(redis) => redis,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            println!("\n# Two servers and Redis: skipped, redis-server is not installed ({err})");
            return Ok(serde_json::json!({"skipped": "redis-server is not installed"}));
        }
        Err(err) => return Err(err),
    };
    let offered = clients as f64 * (clients - 1) as f64 * rate;
    let mut single = Vec::new();
    let mut cluster = Vec::new();
    for _ in 0..rounds {
        single.push(ClusterSample {
            run: one_run("greenhub", Share::Lines, clients, rate, messages)?,
            broker_cpu_us_per_delivery: 0.0,
        });
        // An empty Redis each round: the last round's servers were killed with their nicks
        // still claimed.
        redis.restart()?;
        cluster.push(cluster_run(&redis, clients, rate, messages)?);
    }
    println!("\n# Two servers and Redis against one server: {clients} clients in one room, {offered:.0} offered deliveries/s\n");
    println!("| setup | deliveries/s | p50 ms | p99 ms | lost | servers CPU us/delivery | Redis CPU us/delivery |");
    println!("|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (setup, runs) in [("one server", &single), ("two servers + Redis", &cluster)] {
        let pick = |f: fn(&ClusterSample) -> f64| median(runs.iter().map(f).collect());
        let row = serde_json::json!({
            "setup": setup, "clients": clients, "offered_per_s": offered,
            "deliveries_per_s": pick(|s| s.run.per_second),
            "p50_ms": pick(|s| s.run.p50_ms), "p99_ms": pick(|s| s.run.p99_ms),
            "lost": runs.iter().map(|s| s.run.lost).sum::<u64>(),
            "cpu_us_per_delivery": pick(|s| s.run.server_cpu_us_per_delivery),
            "broker_cpu_us_per_delivery": pick(|s| s.broker_cpu_us_per_delivery),
        });
        println!(
            "| {setup} | {:.0} | {:.1} | {:.1} | {} | {:.3} | {:.3} |",
            row["deliveries_per_s"].as_f64().unwrap_or(0.0),
            row["p50_ms"].as_f64().unwrap_or(0.0),
            row["p99_ms"].as_f64().unwrap_or(0.0),
            row["lost"],
            row["cpu_us_per_delivery"].as_f64().unwrap_or(0.0),
            row["broker_cpu_us_per_delivery"].as_f64().unwrap_or(0.0),
        );
        rows.push(row);
    }
    Ok(serde_json::json!({"rounds": rounds, "rows": rows}))
}

/// One run against two one-hub servers in a cluster at `redis`, clients alternating between
/// them; the servers' CPU is added up, Redis's is reported apart.
fn cluster_run(
    redis: &chat_demo::child::RedisProcess,
    clients: usize,
    rate: f64,
    messages: usize,
) -> std::io::Result<ClusterSample> {
    use greenhub_benches::chat::{CLUSTER_URL_ENV, SERVER_ID_ENV};
    let redis_pid = redis
        .pid()
        .ok_or_else(|| std::io::Error::other("redis is not running"))?;
    pin_pid(redis_pid, 0);
    let mut servers = Vec::new();
    for id in ["bench-a", "bench-b"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat_bench_server"));
        command
            .args(["greenhub_cluster", "127.0.0.1:0", "0"])
            .env(CLUSTER_URL_ENV, redis.url())
            .env(SERVER_ID_ENV, id);
        servers.push(start_announced(command)?);
    }
    let config = LoadConfig {
        server: format!("{},{}", servers[0].1, servers[1].1),
        clients,
        rooms: 1,
        messages,
        rate,
        timeout: Duration::from_secs(30),
        burst: false,
        ..LoadConfig::default()
    };
    let pids: Vec<u32> = servers.iter().map(|(child, _)| child.id()).collect();
    let cpu = |pids: &[u32]| {
        pids.iter()
            .map(|&p| process_cpu_ns(p).unwrap_or(0))
            .sum::<u64>()
    };
    let (servers_before, redis_before) = (cpu(&pids), cpu(&[redis_pid]));
    let report: std::io::Result<LoadReport> = greenhub::Runtime::builder()
        .hubs(1)
        .build()?
        .run(move || chat_demo::load::run(&config, |_| {}));
    let (servers_ns, redis_ns) = (
        cpu(&pids) - servers_before,
        cpu(&[redis_pid]) - redis_before,
    );
    let peak: u64 = pids
        .iter()
        .map(|&p| peak_resident_bytes_of_pid(p).unwrap_or(0))
        .sum();
    for (mut child, _) in servers {
        child.kill()?;
        child.wait()?;
    }
    let report = report?;
    let delivered = report.delivered.max(1) as f64;
    Ok(ClusterSample {
        run: Sample {
            per_second: report.per_second(),
            p50_ms: report.latency_us(0.50) as f64 / 1000.0,
            p99_ms: report.latency_us(0.99) as f64 / 1000.0,
            lost: report.lost() + report.duplicates + report.out_of_order,
            server_cpu_us_per_delivery: servers_ns as f64 / 1000.0 / delivered,
            peak_rss_mib: peak as f64 / (1024.0 * 1024.0),
        },
        broker_cpu_us_per_delivery: redis_ns as f64 / 1000.0 / delivered,
    })
}

/// Pins process `pid` (its main thread; Redis does its work there) to `cpu`, where it can.
fn pin_pid(pid: u32, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity get valid
    // pointers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(
            pid as libc::pid_t,
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        );
    }
}
