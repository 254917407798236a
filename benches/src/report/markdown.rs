//! `REPORT.md`: the machine, the command, one table per benchmark with greenhub's ratio to each
//! peer and a mark wherever greenhub is behind, the targets of the earlier issues and of issue
//! 13, and charts. A `corosensei_floor` entry is not a peer but the floor under greenhub, so it
//! gets no "behind" mark.

mod fast_paths;
mod figures;

pub use figures::FIGURES_FILE;

use super::charts::{bar_chart, line_chart, Bar, Series};
use super::{by_group, greenhub_of, human_ns, Results};
use serde_json::Value;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Where and how the report was produced.
pub struct Context {
    /// Label and value pairs describing the machine.
    pub machine: Vec<(String, String)>,
    /// The exact command that produced the report.
    pub command: String,
    /// Wall time of the whole run.
    pub duration: std::time::Duration,
    /// Each bench target and how long it took, building included.
    pub steps: Vec<(String, std::time::Duration)>,
}

const BEHIND: &str = "**behind**";

/// The name of the floor entries: what bare corosensei allows, not a peer.
const FLOOR: &str = "corosensei_floor";

/// The ratio cell against a floor: how far above it greenhub is, with no "behind" mark.
fn above_floor(ours: f64, floor: f64) -> String {
    if floor <= 0.0 {
        return String::new();
    }
    format!("{:.2}x (floor, not a peer)", ours / floor)
}

/// Ratios this close to 1 are ties: the same benchmark moves more than this between runs here.
const TIE: f64 = 0.01;

/// greenhub's value over the peer's, and a mark when greenhub is behind (`lower_is_better`
/// says which way "behind" points).
fn ratio(ours: f64, theirs: f64, lower_is_better: bool) -> String {
    if theirs <= 0.0 || ours <= 0.0 {
        return String::new();
    }
    let r = ours / theirs;
    if (1.0 - TIE..=1.0 + TIE).contains(&r) {
        return format!("{r:.3}x (tie)");
    }
    let behind = if lower_is_better { r > 1.0 } else { r < 1.0 };
    // Near 1, two decimals would hide which side of it the value is on.
    let shown = if (0.95..1.05).contains(&r) {
        format!("{r:.3}x")
    } else {
        format!("{r:.2}x")
    };
    let mark = if behind {
        format!(" {BEHIND}")
    } else {
        String::new()
    };
    format!("{shown}{mark}")
}

fn rows_in(value: &Option<Value>, key: &str) -> Vec<Value> {
    value
        .as_ref()
        .and_then(|v| v[key].as_array().cloned())
        .unwrap_or_default()
}

fn num(row: &Value, key: &str) -> f64 {
    row[key].as_f64().unwrap_or(0.0)
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or("")
}

/// Writes `REPORT.md` and its charts into `out_dir`.
///
/// # Errors
///
/// When a file cannot be written.
pub fn write_report(out_dir: &Path, results: &Results, context: &Context) -> io::Result<()> {
    let charts = out_dir.join("report");
    std::fs::create_dir_all(&charts)?;
    let mut md = String::new();
    let mut quoted = figures::Figures::default();
    let _ = writeln!(md, "# greenhub benchmark report\n");
    let _ = writeln!(
        md,
        "Produced by `{}` in {:.0} s. Every peer ran in the same run as greenhub; rounds of the \
         end-to-end runs interleave the contenders and the tables give medians. Ratios are \
         greenhub's value over the peer's; {BEHIND} marks where greenhub does worse, and ratios \
         within 1% count as ties (the same benchmark moves more than that between runs here).\n",
        context.command,
        context.duration.as_secs_f64()
    );
    let _ = writeln!(md, "## Machine\n\n| | |\n|---|---|");
    for (label, value) in &context.machine {
        let _ = writeln!(md, "| {label} | {value} |");
    }
    let steps: Vec<String> = context
        .steps
        .iter()
        .map(|(name, time)| format!("{name} {:.0} s", time.as_secs_f64()))
        .collect();
    let _ = writeln!(md, "| steps | {} |", steps.join(", "));
    primitives_section(&mut md, &mut quoted, results, &charts)?;
    memory_section(&mut md, &mut quoted, results);
    echo_section(&mut md, &mut quoted, results, &charts)?;
    let cores = context
        .machine
        .iter()
        .find(|(label, _)| label == "cores")
        .map_or("?", |(_, value)| value.as_str());
    chat_section(&mut md, &mut quoted, results, cores, &charts)?;
    cluster_section(&mut md, &mut quoted, results);
    targets_section(&mut md, results);
    fast_paths::fast_paths_section(&mut md, results);
    std::fs::write(out_dir.join("REPORT.md"), md)?;
    std::fs::write(charts.join(FIGURES_FILE), quoted.to_markdown())
}

fn primitives_section(
    md: &mut String,
    quoted: &mut figures::Figures,
    results: &Results,
    charts: &Path,
) -> io::Result<()> {
    if results.primitives.is_empty() {
        let _ = writeln!(md, "\n## Primitives\n\nNot run.");
        return Ok(());
    }
    let _ = writeln!(
        md,
        "\n## Primitives (criterion medians)\n\n![primitive costs](report/primitives.png)\n"
    );
    let mut bars: Vec<Bar> = Vec::new();
    for (group, entries) in by_group(&results.primitives) {
        let ours = greenhub_of(&entries);
        let _ = writeln!(
            md,
            "### {group}\n\n| implementation | median | greenhub / it |\n|---|---|---|"
        );
        for p in &entries {
            let versus = match ours {
                // Floors (bare corosensei, one clock read) are limits, not peers.
                Some(g) if p.peer.ends_with("_floor") => above_floor(g.median_ns, p.median_ns),
                Some(g) if !p.peer.starts_with("greenhub") && p.peer != "no_timeout" => {
                    ratio(g.median_ns, p.median_ns, true)
                }
                _ => String::new(),
            };
            let median = human_ns(p.median_ns);
            let _ = writeln!(md, "| {} | {median} | {versus} |", p.peer);
            quoted.add(&[&group, &p.peer], median);
            bars.push((
                format!("{group} / {}", p.peer),
                p.median_ns,
                p.peer.starts_with("greenhub"),
            ));
        }
        md.push('\n');
    }
    bar_chart(
        &charts.join("primitives.png"),
        "Primitive costs (median, log scale; greenhub in green)",
        "time per operation (ns)",
        &bars,
    )
}

fn memory_section(md: &mut String, quoted: &mut figures::Figures, results: &Results) {
    let rows = rows_in(&results.memory, "rows");
    if rows.is_empty() {
        return;
    }
    let sleepers = results
        .memory
        .as_ref()
        .map_or(0, |m| m["sleepers"].as_u64().unwrap_or(0));
    let ours = rows
        .iter()
        .find(|r| text(r, "peer") == "greenhub")
        .map_or(0.0, |r| num(r, "bytes_per_sleeper"));
    let _ = writeln!(
        md,
        "## Memory: resident bytes per sleeping green thread ({sleepers} at once)\n\n| implementation | KiB each | greenhub / it |\n|---|---|---|"
    );
    for r in &rows {
        let bytes = num(r, "bytes_per_sleeper");
        let versus = if text(r, "peer") == "greenhub" {
            String::new()
        } else if text(r, "peer") == FLOOR {
            above_floor(ours, bytes)
        } else {
            ratio(ours, bytes, true)
        };
        let kib = format!("{:.1}", bytes / 1024.0);
        let _ = writeln!(md, "| {} | {kib} | {versus} |", text(r, "peer"));
        quoted.add(&["memory", text(r, "peer")], kib);
    }
}

/// Series for a chart: one per server, x and y read from each row.
fn series_by_server(rows: &[Value], x: &str, y: &str) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for r in rows {
        let name = text(r, "server").to_string();
        let point = (num(r, x), num(r, y));
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, points)) => points.push(point),
            None => series.push((name, vec![point])),
        }
    }
    series
}

fn echo_section(
    md: &mut String,
    quoted: &mut figures::Figures,
    results: &Results,
    charts: &Path,
) -> io::Result<()> {
    let rows = rows_in(&results.echo, "rows");
    if rows.is_empty() {
        return Ok(());
    }
    let _ = writeln!(
        md,
        "\n## Echo: 64-byte ping-pong\n\nServer on one thread pinned to CPU 0 (greenhub_all_hubs: one hub per core, unpinned), \
         load generator pinned to CPU 1. The load generator paces the runs, so server CPU per round trip is the telling column; \
         the ratio compares greenhub (one hub) on it.\n\n\
         ![echo throughput](report/echo_throughput.png)\n![echo p99](report/echo_p99.png)\n![echo cpu](report/echo_cpu.png)\n\n\
         | connections | server | round trips/s | p50 us | p99 us | server CPU us/round trip | greenhub CPU / it | peak RSS MiB |\n|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let ours = rows
            .iter()
            .find(|o| {
                text(o, "server") == "greenhub" && num(o, "connections") == num(r, "connections")
            })
            .map_or(0.0, |o| num(o, "cpu_us_per_round_trip"));
        let versus = if text(r, "server").starts_with("greenhub") {
            String::new()
        } else {
            ratio(ours, num(r, "cpu_us_per_round_trip"), true)
        };
        let connections = num(r, "connections").to_string();
        let server = text(r, "server");
        let cells = [
            ("round_trips", format!("{:.0}", num(r, "round_trips_per_s"))),
            ("p50", format!("{:.1}", num(r, "p50_us"))),
            ("p99", format!("{:.1}", num(r, "p99_us"))),
            ("cpu", format!("{:.2}", num(r, "cpu_us_per_round_trip"))),
            ("rss", format!("{:.1}", num(r, "peak_rss_mib"))),
        ];
        let _ = writeln!(
            md,
            "| {connections} | {server} | {} | {} | {} | {} | {versus} | {} |",
            cells[0].1, cells[1].1, cells[2].1, cells[3].1, cells[4].1,
        );
        for (column, cell) in cells {
            quoted.add(&["echo", &connections, server, column], cell);
        }
    }
    for line in rows_of_strings(&results.echo, "skipped") {
        let _ = writeln!(md, "\n{line}");
    }
    let axis = "connections (log scale)";
    line_chart(
        &charts.join("echo_throughput.png"),
        "Echo: round trips per second",
        (axis, "round trips/s"),
        &series_by_server(&rows, "connections", "round_trips_per_s"),
    )?;
    line_chart(
        &charts.join("echo_p99.png"),
        "Echo: p99 round-trip latency",
        (axis, "p99 (us)"),
        &series_by_server(&rows, "connections", "p99_us"),
    )?;
    line_chart(
        &charts.join("echo_cpu.png"),
        "Echo: server CPU per round trip",
        (axis, "CPU (us)"),
        &series_by_server(&rows, "connections", "cpu_us_per_round_trip"),
    )
}

fn rows_of_strings(value: &Option<Value>, key: &str) -> Vec<String> {
    rows_in(value, key)
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn chat_section(
    md: &mut String,
    quoted: &mut figures::Figures,
    results: &Results,
    cores: &str,
    charts: &Path,
) -> io::Result<()> {
    let rows = rows_in(&results.chat, "rows");
    if rows.is_empty() {
        return Ok(());
    }
    let clients = num(&rows[0], "clients");
    let _ = writeln!(
        md,
        "\n## Chat fan-out: {clients} clients in one room\n\nThe chat-demo server against a tokio server with the same protocol subset. \
         `greenhub` and `tokio` run on one thread pinned to CPU 0; `greenhub_all_hubs` (`ChatServer::bind`: one hub and one \
         `SO_REUSEPORT` listener per core, rooms spanning hubs) and `tokio_mt` (tokio's multi-thread runtime, one worker per core) \
         run unpinned. chat-load, pinned to CPU 1, checks every delivery (exactly once, in order); every figure in a row comes \
         from the same runs. Ratios: each greenhub server's deliveries/s and p99 over those of the tokio server on as many \
         threads (greenhub over tokio, greenhub_all_hubs over tokio_mt). The tokio peer keeps the rule the greenhub server had \
         before issue 14: a client whose queue is full is dropped at once, so a server that falls behind loses clients, and \
         the lost column counts the deliveries that cost. `greenhub_half_websocket` is the `greenhub` server (one hub, \
         pinned) with its web port open, under the same load with half of the clients connected as browsers are, by \
         WebSocket (each line one text frame each way), so its server CPU per delivery beside `greenhub`'s is what the \
         framing costs; chat-load, also on one hub, decodes those frames too, so deliveries/s and p99 carry its share.\n\n\
         ![chat p99](report/chat_p99.png)\n\n\
         | offered deliveries/s | server | deliveries/s | p50 ms | p99 ms | lost | server CPU us/delivery | peak RSS MiB | greenhub deliveries / it | greenhub p99 / it |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let find = |server: &str, offered: f64| {
        rows.iter()
            .find(|o| text(o, "server") == server && num(o, "offered_per_s") == offered)
    };
    for r in &rows {
        let ours = peers_of(text(r, "server")).and_then(|g| find(g, num(r, "offered_per_s")));
        let (versus_rate, versus_p99) = match ours {
            Some(o) => (
                ratio(
                    num(o, "deliveries_per_s"),
                    num(r, "deliveries_per_s"),
                    false,
                ),
                ratio(num(o, "p99_ms"), num(r, "p99_ms"), true),
            ),
            None => (String::new(), String::new()),
        };
        let offered = format!("{:.0}", num(r, "offered_per_s"));
        let server = text(r, "server");
        let cells = [
            ("deliveries", format!("{:.0}", num(r, "deliveries_per_s"))),
            ("p50", format!("{:.1}", num(r, "p50_ms"))),
            ("p99", format!("{:.1}", num(r, "p99_ms"))),
            ("lost", num(r, "lost").to_string()),
            ("cpu", format!("{:.3}", num(r, "cpu_us_per_delivery"))),
            ("rss", format!("{:.1}", num(r, "peak_rss_mib"))),
        ];
        let _ = writeln!(
            md,
            "| {offered} | {server} | {} | {} | {} | {} | {} | {} | {versus_rate} | {versus_p99} |",
            cells[0].1, cells[1].1, cells[2].1, cells[3].1, cells[4].1, cells[5].1,
        );
        for (column, cell) in cells {
            quoted.add(&["chat", &offered, server, column], cell);
        }
    }
    let _ = writeln!(
        md,
        "\n### One thread against every core\n\nEach server on every core over itself on one thread, same load.\n\n\
         | offered deliveries/s | server | deliveries/s, all cores / one | p99, all cores / one | CPU per delivery, all cores / one |\n|---|---|---|---|---|"
    );
    for (one, all) in [("greenhub", "greenhub_all_hubs"), ("tokio", "tokio_mt")] {
        for r in rows.iter().filter(|r| text(r, "server") == one) {
            let offered = num(r, "offered_per_s");
            let Some(a) = find(all, offered) else {
                continue;
            };
            let over = |key: &str| num(a, key) / num(r, key).max(1e-9);
            let _ = writeln!(
                md,
                "| {offered:.0} | {one} | {:.3}x | {:.3}x | {:.3}x |",
                over("deliveries_per_s"),
                over("p99_ms"),
                over("cpu_us_per_delivery"),
            );
        }
    }
    let _ = writeln!(
        md,
        "\nWhat this machine ({cores} cores) can and cannot show. The load is paced: chat-load offers a fixed rate, so \
         deliveries/s can only fall short of it, when a server or the generator falls behind; p99 and CPU per delivery \
         say more. The all-core servers share the second core with the load generator, so a second hub gets a \
         share of a busy core, not a free one (and of whatever else the machine runs meanwhile). These rows show the cost of spreading a room over hubs (one hand-off per hub per line, \
         the fan-out, cross-hub wake-ups) against what a contended second core gives back; whether throughput scales \
         with cores needs a machine where the generator has cores of its own (or runs elsewhere) and a load that \
         saturates one hub."
    );
    let idle = rows_in(&results.chat, "idle");
    if !idle.is_empty() {
        let _ = writeln!(
            md,
            "\n### Idle clients: server resident memory per connected client\n\n\
             `greenhub_websocket`: the `greenhub` server with every client a browser's WebSocket on its web port.\n\n\
             | clients | server | KiB per client |\n|---|---|---|"
        );
        for r in &idle {
            let kib = format!("{:.1}", num(r, "kib_per_client"));
            let _ = writeln!(
                md,
                "| {} | {} | {kib} |",
                num(r, "clients"),
                text(r, "server"),
            );
            quoted.add(&["idle", text(r, "server")], kib);
        }
    }
    line_chart(
        &charts.join("chat_p99.png"),
        "Chat: p99 delivery latency against offered load",
        ("offered deliveries per second (log scale)", "p99 (ms)"),
        &series_by_server(&rows, "offered_per_s", "p99_ms"),
    )
}

/// Two chat servers sharing the room through Redis against one server (issue 19).
fn cluster_section(md: &mut String, quoted: &mut figures::Figures, results: &Results) {
    let Some(cluster) = results.chat.as_ref().map(|chat| &chat["cluster"]) else {
        return;
    };
    if cluster.is_null() {
        return;
    }
    let _ = writeln!(
        md,
        "\n### Two servers and Redis against one server\n\nThe same paced load, half the clients on each of two \
         one-hub chat servers that share the room through Redis pub/sub (`--cluster`), against one one-hub server. \
         Everything under test runs on CPU 0 (one server; or both servers and redis-server), so the rows compare the \
         same CPU budget; every delivery is checked as above. The broker's cost per delivery is Redis's CPU over the \
         deliveries, beside the servers' own.\n\n\
         | setup | clients | offered deliveries/s | deliveries/s | p50 ms | p99 ms | lost | servers CPU us/delivery | Redis CPU us/delivery |\n|---|---|---|---|---|---|---|---|---|"
    );
    if let Some(why) = cluster["skipped"].as_str() {
        let _ = writeln!(md, "| two servers + Redis | | | skipped: {why} | | | | | |");
        return;
    }
    for r in cluster["rows"].as_array().into_iter().flatten() {
        let setup = text(r, "setup");
        // Short anchor names for the book: "one server" and "two servers + Redis".
        let key = if setup.starts_with("two") {
            "two_servers"
        } else {
            "one_server"
        };
        let cells = [
            ("clients", format!("{:.0}", num(r, "clients"))),
            ("offered", format!("{:.0}", num(r, "offered_per_s"))),
            ("deliveries", format!("{:.0}", num(r, "deliveries_per_s"))),
            ("p50", format!("{:.1}", num(r, "p50_ms"))),
            ("p99", format!("{:.1}", num(r, "p99_ms"))),
            ("lost", num(r, "lost").to_string()),
            ("cpu", format!("{:.3}", num(r, "cpu_us_per_delivery"))),
            (
                "broker_cpu",
                format!("{:.3}", num(r, "broker_cpu_us_per_delivery")),
            ),
        ];
        let _ = writeln!(
            md,
            "| {setup} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cells[0].1,
            cells[1].1,
            cells[2].1,
            cells[3].1,
            cells[4].1,
            cells[5].1,
            cells[6].1,
            cells[7].1,
        );
        for (column, cell) in cells {
            quoted.add(&["cluster", key, column], cell);
        }
    }
}

/// The greenhub server a tokio chat server is compared with: the one on as many threads.
fn peers_of(server: &str) -> Option<&'static str> {
    match server {
        "tokio" => Some("greenhub"),
        "tokio_mt" => Some("greenhub_all_hubs"),
        _ => None,
    }
}

/// Whether a target was met; a miss within [`TIE`] of the peer it is measured against is a tie.
#[derive(Clone, Copy)]
enum Met {
    Yes,
    No,
    Tie,
}

impl From<bool> for Met {
    fn from(met: bool) -> Met {
        if met {
            Met::Yes
        } else {
            Met::No
        }
    }
}

fn target_row(md: &mut String, target: &str, verdict: Option<(String, Met)>) {
    let (shown, met) = match verdict {
        Some((shown, Met::Yes)) => (shown, "yes"),
        Some((shown, Met::No)) => (shown, "**no**"),
        Some((shown, Met::Tie)) => (shown, "tie"),
        None => ("not run".to_string(), "?"),
    };
    let _ = writeln!(md, "| {target} | {shown} | {met} |");
}

/// The speed and memory targets of the earlier issues, each checked against this run.
fn targets_section(md: &mut String, results: &Results) {
    let _ = writeln!(
        md,
        "\n## Targets of the earlier issues\n\n| target | this run | met |\n|---|---|---|"
    );
    let primitive = |group: &str, peer: &str, limit_ns: f64| {
        results
            .primitives
            .iter()
            .find(|p| p.group == group && p.peer == peer)
            .map(|p| (human_ns(p.median_ns), Met::from(p.median_ns <= limit_ns)))
    };
    for (target, group, peer, limit) in [
        ("yield_now <= 10 ns", "yield_now", "greenhub", 10.0),
        ("spawn + join <= 100 ns", "spawn_join", "greenhub", 100.0),
        (
            "park/unpark ping-pong round trip <= 25 ns",
            "park_unpark_ping_pong",
            "greenhub",
            25.0,
        ),
        (
            "channel ping-pong on one hub <= 30 ns",
            "channel_ping_pong",
            "greenhub",
            30.0,
        ),
        (
            "timeout around a call that finishes in time <= 50 ns",
            "timeout_overhead",
            "greenhub_timeout",
            50.0,
        ),
    ] {
        target_row(md, target, primitive(group, peer, limit));
    }
    let memory = rows_in(&results.memory, "rows")
        .iter()
        .find(|r| text(r, "peer") == "greenhub")
        .map(|r| num(r, "bytes_per_sleeper"))
        .map(|v| (format!("{:.1} KiB", v / 1024.0), Met::from(v <= 8192.0)));
    target_row(md, "RSS per sleeping green thread <= 8 KiB", memory);
    let echo = rows_in(&results.echo, "rows");
    for connections in [10.0, 100.0, 1000.0] {
        let cpu = |server: &str| {
            echo.iter()
                .find(|r| text(r, "server") == server && num(r, "connections") == connections)
                .map(|r| num(r, "cpu_us_per_round_trip"))
        };
        let verdict = match (cpu("greenhub"), cpu("epoll")) {
            (Some(g), Some(e)) if e > 0.0 => {
                let excess = (g / e - 1.0) * 100.0;
                Some((format!("{excess:+.1}%"), Met::from(excess <= 5.0)))
            }
            _ => None,
        };
        target_row(
            md,
            &format!("echo at {connections} connections: server CPU within 5% of the epoll loop"),
            verdict,
        );
    }
    let chat = rows_in(&results.chat, "rows");
    let pick = |server: &str, load: f64| {
        chat.iter()
            .find(|r| text(r, "server") == server && num(r, "offered_per_s") == load)
    };
    for g in chat.iter().filter(|r| text(r, "server") == "greenhub") {
        let load = num(g, "offered_per_s");
        let verdict = pick("tokio", load).map(|t| {
            let rate = num(g, "deliveries_per_s") / num(t, "deliveries_per_s").max(1e-9);
            let p99 = num(g, "p99_ms") / num(t, "p99_ms").max(1e-9);
            let tie = |r: f64| (1.0 - TIE..=1.0 + TIE).contains(&r);
            let tied = (rate < 1.0 && tie(rate)) || (p99 > 1.0 && tie(p99));
            let met = if rate >= 1.0 && p99 <= 1.0 {
                Met::Yes
            } else if tied {
                Met::Tie
            } else {
                Met::No
            };
            let note = if tied { " (tie)" } else { "" };
            (
                format!("deliveries {rate:.3}x tokio's, p99 {p99:.3}x tokio's{note}"),
                met,
            )
        });
        target_row(
            md,
            &format!("chat at {load:.0} offered deliveries/s: at least tokio's deliveries/s at no worse p99"),
            verdict,
        );
    }
    let idle = rows_in(&results.chat, "idle")
        .iter()
        .find(|r| text(r, "server") == "greenhub")
        .map(|r| num(r, "kib_per_client"))
        .map(|v| (format!("{v:.1} KiB"), Met::from(v <= 16.0)));
    target_row(
        md,
        "idle chat clients: <= 16 KiB of server memory each",
        idle,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_with(cluster: Value) -> Results {
        Results {
            chat: Some(serde_json::json!({ "cluster": cluster })),
            ..Results::default()
        }
    }

    #[test]
    fn the_cluster_row_shows_both_setups_and_the_broker_cost() {
        let rows = serde_json::json!({"rounds": 1, "rows": [
            {"setup": "one server", "clients": 200, "offered_per_s": 39800.0, "deliveries_per_s": 39650.0,
             "p50_ms": 2.0, "p99_ms": 12.1, "lost": 0, "cpu_us_per_delivery": 8.759, "broker_cpu_us_per_delivery": 0.0},
            {"setup": "two servers + Redis", "clients": 200, "offered_per_s": 39800.0, "deliveries_per_s": 39413.0,
             "p50_ms": 1.7, "p99_ms": 6.7, "lost": 0, "cpu_us_per_delivery": 14.246, "broker_cpu_us_per_delivery": 1.076},
        ]});
        let mut md = String::new();
        let mut quoted = figures::Figures::default();
        cluster_section(&mut md, &mut quoted, &chat_with(rows));
        assert!(
            md.contains("| one server | 200 | 39800 | 39650 | 2.0 | 12.1 | 0 | 8.759 | 0.000 |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| two servers + Redis | 200 | 39800 | 39413 | 1.7 | 6.7 | 0 | 14.246 | 1.076 |"
            ),
            "{md}"
        );
        let figures = quoted.to_markdown();
        assert!(
            figures.contains("<!-- ANCHOR: cluster-two_servers-broker_cpu -->\n1.076\n"),
            "{figures}"
        );
        assert!(
            figures.contains("<!-- ANCHOR: cluster-one_server-p99 -->\n12.1\n"),
            "{figures}"
        );
    }

    #[test]
    fn without_redis_the_cluster_row_says_so_and_the_report_goes_on() {
        let mut md = String::new();
        cluster_section(
            &mut md,
            &mut figures::Figures::default(),
            &chat_with(serde_json::json!({"skipped": "redis-server is not installed"})),
        );
        assert!(
            md.contains("skipped: redis-server is not installed"),
            "{md}"
        );
        let mut md = String::new();
        cluster_section(
            &mut md,
            &mut figures::Figures::default(),
            &Results::default(),
        );
        assert!(md.is_empty());
    }
}
