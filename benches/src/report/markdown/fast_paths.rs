//! The targets of issue 13 ("Fast paths to the limit"), each checked against the peer it names
//! in this run, beside the limit under it where this run measured one: a corosensei floor, or
//! the fastest other contender of the same measurement.

use super::{num, rows_in, text, Results, FLOOR};
use crate::report::human_ns;
use std::fmt::Write as _;

/// Idle CPU within this counts as none: the measurement's own reads of `/proc` and the one timer
/// wake that ends the window cost tens of microseconds, while a hub ticking at even 100 Hz would
/// spend several milliseconds in 10 s.
const IDLE_CPU_MS_PER_10_S: f64 = 1.0;

/// One target and what this run measured for it.
struct Check<'a> {
    target: String,
    ours: Option<f64>,
    /// The peer the target names (or, for an absolute target, the best one for context).
    peer: Option<(&'a str, f64)>,
    /// An absolute bound on greenhub's value.
    at_most: Option<f64>,
    /// A bound on greenhub's value as a multiple of the peer's.
    times_peer: Option<f64>,
    /// The limit under the target, already written out.
    limit: String,
    show: fn(f64) -> String,
}

impl Check<'_> {
    fn met(&self) -> Option<bool> {
        let ours = self.ours?;
        let absolute = self.at_most.map_or(true, |most| ours <= most);
        let relative = match self.times_peer {
            Some(times) => ours <= times * self.peer?.1,
            None => true,
        };
        Some(absolute && relative)
    }

    fn write(&self, md: &mut String) {
        let ours = self.ours.map_or("not run".to_string(), self.show);
        let (peer, versus) = match self.peer {
            Some((name, value)) => (
                format!("{name}: {}", (self.show)(value)),
                self.ours.map_or(String::new(), |o| times(o / value)),
            ),
            None => ("-".to_string(), String::new()),
        };
        let met = match self.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "?",
        };
        let _ = writeln!(
            md,
            "| {} | {ours} | {peer} | {versus} | {met} | {} |",
            self.target, self.limit
        );
    }
}

/// A ratio, with a third decimal near 1 where two would hide which side of it the value is on.
fn times(r: f64) -> String {
    if (0.95..1.05).contains(&r) {
        format!("{r:.3}x")
    } else {
        format!("{r:.2}x")
    }
}

/// The limit cell: its value, what it is, and how far above it greenhub is.
fn limit_cell(ours: Option<f64>, limit: Option<(String, f64)>, show: fn(f64) -> String) -> String {
    match (ours, limit) {
        (Some(o), Some((what, value))) if value > 0.0 => {
            format!("{} ({what}); greenhub {} it", show(value), times(o / value))
        }
        (None, Some((what, value))) => format!("{} ({what})", show(value)),
        _ => "-".to_string(),
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.2} KiB", bytes / 1024.0)
}

fn cpu_us(us: f64) -> String {
    format!("{us:.2} us")
}

fn cpu_ms(ms: f64) -> String {
    format!("{ms:.3} ms")
}

/// The issue 13 section: one row per target.
pub(super) fn fast_paths_section(md: &mut String, results: &Results) {
    let _ = writeln!(
        md,
        "\n## Issue 13: fast paths\n\n\
         Each target of issue 13 against the peer it names, measured in this run. The limit \
         column gives the lowest cost this run measured for the same work: a `corosensei_floor` \
         is not a peer but bare corosensei coroutines on a run queue (or a stack pool) with none \
         of a runtime's features (no cancellation, timers, unwinding bookkeeping or overflow \
         detection), so it is what the hardware and corosensei allow.\n\n\
         | target | greenhub | peer (same run) | greenhub / peer | met | limit (measured in this run) |\n\
         |---|---|---|---|---|---|"
    );
    let primitive = |group: &str, peer: &str| {
        results
            .primitives
            .iter()
            .find(|p| p.group == group && p.peer == peer)
            .map(|p| p.median_ns)
    };
    let floor = |group: &str| primitive(group, FLOOR).map(|v| ("corosensei floor".to_string(), v));
    let fastest_other = |group: &str| {
        results
            .primitives
            .iter()
            .filter(|p| p.group == group && !p.peer.starts_with("greenhub"))
            .min_by(|a, b| a.median_ns.total_cmp(&b.median_ns))
            .map(|p| (format!("fastest other contender: {}", p.peer), p.median_ns))
    };
    let check = |target: &str, group: &str, ours: &str, (peer, at_most, times_peer), limit| {
        let ours_ns = primitive(group, ours);
        Check {
            target: target.to_string(),
            ours: ours_ns,
            peer: primitive(group, peer).map(|v| (peer, v)),
            at_most,
            times_peer,
            limit: limit_cell(ours_ns, limit, human_ns),
            show: human_ns,
        }
    };
    let park_floor = primitive("park_unpark_ping_pong", FLOOR).map(|v| {
        (
            "park/unpark floor: the same wakes and switches".to_string(),
            v,
        )
    });
    let checks = [
        check(
            "spawn + join <= 80 ns and <= may / 8",
            "spawn_join",
            "greenhub",
            ("may", Some(80.0), Some(1.0 / 8.0)),
            floor("spawn_join"),
        ),
        check(
            "park/unpark ping-pong round trip <= 35 ns",
            "park_unpark_ping_pong",
            "greenhub",
            ("may", Some(35.0), None),
            floor("park_unpark_ping_pong"),
        ),
        check(
            "channel ping-pong on one hub <= 70 ns and <= may / 4",
            "channel_ping_pong",
            "greenhub",
            ("may", Some(70.0), Some(1.0 / 4.0)),
            park_floor,
        ),
        check(
            "`timeout` around a call that finishes in time <= tokio / 2",
            "timeout_overhead",
            "greenhub_timeout",
            ("tokio_timeout", None, Some(0.5)),
            primitive("timeout_overhead", "no_timeout")
                .map(|v| ("the call with no timeout at all".to_string(), v)),
        ),
        check(
            "10,000 timers: spawn, sleep up to 1 ms, join <= 2 x tokio",
            "timers_10k",
            "greenhub",
            ("tokio_current_thread", None, Some(2.0)),
            None,
        ),
        check(
            "channel ping-pong across hubs <= tokio multi-thread",
            "channel_ping_pong_across_hubs",
            "greenhub_two_hubs",
            ("tokio_multi_thread", None, Some(1.0)),
            fastest_other("channel_ping_pong_across_hubs"),
        ),
        check(
            "stream of messages across hubs <= 2 x crossbeam",
            "cross_hub_stream",
            "greenhub_two_hubs",
            ("crossbeam_two_threads", None, Some(2.0)),
            fastest_other("cross_hub_stream"),
        ),
    ];
    for c in &checks {
        c.write(md);
    }
    echo_checks(md, results);
    idle_and_memory_checks(md, results);
}

/// Server CPU per echo round trip within 3% of the epoll loop at each connection count.
fn echo_checks(md: &mut String, results: &Results) {
    let echo = rows_in(&results.echo, "rows");
    let cpu = |server: &str, connections: f64| {
        echo.iter()
            .find(|r| text(r, "server") == server && num(r, "connections") == connections)
            .map(|r| num(r, "cpu_us_per_round_trip"))
    };
    for connections in [10.0, 100.0, 1000.0] {
        Check {
            target: format!(
                "echo, {connections} connections: server CPU per round trip <= 1.03 x the epoll loop"
            ),
            ours: cpu("greenhub", connections),
            peer: cpu("epoll", connections).map(|v| ("epoll", v)),
            at_most: None,
            times_peer: Some(1.03),
            limit: "the epoll loop (the peer)".to_string(),
            show: cpu_us,
        }
        .write(md);
    }
}

/// CPU of an idle runtime, and resident memory per sleeping green thread.
fn idle_and_memory_checks(md: &mut String, results: &Results) {
    let idle = results
        .memory
        .as_ref()
        .map(|m| &m["idle"])
        .filter(|i| num(i, "window_s") > 0.0);
    let window_s = idle.map_or(10.0, |i| num(i, "window_s"));
    // A shorter window is not scaled up: most of what it sees is the measurement's fixed cost.
    let window = if window_s == 10.0 {
        String::new()
    } else {
        format!(" (this run: a {window_s:.0} s window, not scaled)")
    };
    Check {
        target: format!(
            "idle runtime (2 hubs, {} parked green threads): CPU in 10 s <= {IDLE_CPU_MS_PER_10_S} ms, i.e. none{window}",
            idle.map_or(0.0, |i| num(i, "green_threads"))
        ),
        ours: idle.map(|i| num(i, "cpu_ms")),
        peer: None,
        at_most: Some(IDLE_CPU_MS_PER_10_S),
        times_peer: None,
        limit: idle.map_or("-".to_string(), |i| {
            format!(
                "0 (nothing is due); thread wake-ups in the window: {}",
                num(i, "wake_ups")
            )
        }),
        show: cpu_ms,
    }
    .write(md);
    let memory = rows_in(&results.memory, "rows");
    let bytes = |peer: &str| {
        memory
            .iter()
            .find(|r| text(r, "peer") == peer)
            .map(|r| num(r, "bytes_per_sleeper"))
    };
    let ours = bytes("greenhub");
    Check {
        target: "resident memory per sleeping green thread <= 4.5 KiB".to_string(),
        ours,
        peer: bytes("tokio_current_thread").map(|v| ("tokio_current_thread", v)),
        at_most: Some(4.5 * 1024.0),
        times_peer: None,
        limit: limit_cell(
            ours,
            bytes(FLOOR).map(|v| ("corosensei floor".to_string(), v)),
            kib,
        ),
        show: kib,
    }
    .write(md);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn_join(ours: f64, may: f64) -> Check<'static> {
        Check {
            target: "spawn + join <= 80 ns and <= may / 8".to_string(),
            ours: Some(ours),
            peer: Some(("may", may)),
            at_most: Some(80.0),
            times_peer: Some(1.0 / 8.0),
            limit: "-".to_string(),
            show: human_ns,
        }
    }

    #[test]
    fn a_target_with_two_bounds_is_met_only_when_both_are() {
        assert_eq!(spawn_join(70.0, 800.0).met(), Some(true));
        assert_eq!(spawn_join(70.0, 400.0).met(), Some(false));
        assert_eq!(spawn_join(90.0, 8000.0).met(), Some(false));
    }

    #[test]
    fn a_missed_target_is_marked_and_a_missing_peer_leaves_it_open() {
        let mut md = String::new();
        spawn_join(148.0, 1200.0).write(&mut md);
        assert!(md.contains("| 148.0 ns | may: 1.20 us | 0.12x | **no** |"), "{md}");
        let no_peer = Check {
            peer: None,
            ..spawn_join(70.0, 0.0)
        };
        assert_eq!(no_peer.met(), None);
    }
}
