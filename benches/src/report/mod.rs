//! The benchmark report: reads what the harnesses left (criterion's estimates and the JSON of
//! the end-to-end runs) and writes `REPORT.md` with tables and PNG charts beside it.

pub mod charts;
mod markdown;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

pub use markdown::{write_report, Context};

/// One criterion measurement: a benchmark group, a peer in it, and its median time.
#[derive(Debug, Clone)]
pub struct Primitive {
    pub group: String,
    pub peer: String,
    pub median_ns: f64,
}

/// Everything the report shows.
#[derive(Debug, Default)]
pub struct Results {
    pub primitives: Vec<Primitive>,
    pub memory: Option<Value>,
    pub echo: Option<Value>,
    pub chat: Option<Value>,
}

/// Criterion's medians under `criterion_dir` (`<group>/<peer>/new/estimates.json`), in group
/// order of first appearance of the names in `group_order`, then alphabetical.
///
/// # Errors
///
/// When the directory cannot be listed.
pub fn read_criterion(criterion_dir: &Path, group_order: &[&str]) -> io::Result<Vec<Primitive>> {
    let mut found = Vec::new();
    if !criterion_dir.exists() {
        return Ok(found);
    }
    for group in std::fs::read_dir(criterion_dir)? {
        let group = group?.path();
        if !group.is_dir() {
            continue;
        }
        for peer in std::fs::read_dir(&group)? {
            let new = peer?.path().join("new");
            let (Ok(ids), Ok(estimates)) = (
                std::fs::read_to_string(new.join("benchmark.json")),
                std::fs::read_to_string(new.join("estimates.json")),
            ) else {
                continue;
            };
            let (Ok(ids), Ok(estimates)) = (
                serde_json::from_str::<Value>(&ids),
                serde_json::from_str::<Value>(&estimates),
            ) else {
                continue;
            };
            let (Some(group), Some(peer), Some(median_ns)) = (
                ids["group_id"].as_str(),
                ids["function_id"].as_str(),
                estimates["median"]["point_estimate"].as_f64(),
            ) else {
                continue;
            };
            found.push(Primitive {
                group: group.to_string(),
                peer: peer.to_string(),
                median_ns,
            });
        }
    }
    let rank = |group: &str| {
        group_order
            .iter()
            .position(|g| *g == group)
            .unwrap_or(group_order.len())
    };
    found.sort_by(|a, b| {
        (rank(&a.group), &a.group, peer_rank(&a.peer), &a.peer).cmp(&(
            rank(&b.group),
            &b.group,
            peer_rank(&b.peer),
            &b.peer,
        ))
    });
    Ok(found)
}

/// greenhub first, then the peers.
fn peer_rank(peer: &str) -> u8 {
    u8::from(!peer.starts_with("greenhub"))
}

/// Reads `<dir>/<name>.json` when it exists.
pub fn read_json(dir: &Path, name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

/// The primitives grouped by benchmark group, in order.
pub fn by_group(primitives: &[Primitive]) -> Vec<(String, Vec<&Primitive>)> {
    let mut groups: Vec<(String, Vec<&Primitive>)> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for p in primitives {
        let at = *index.entry(&p.group).or_insert_with(|| {
            groups.push((p.group.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(p);
    }
    groups
}

/// The entry a group's ratios are taken against: plain `greenhub` when present, else the
/// first greenhub variant.
pub fn greenhub_of<'a>(entries: &[&'a Primitive]) -> Option<&'a Primitive> {
    entries
        .iter()
        .find(|p| p.peer == "greenhub")
        .or_else(|| entries.iter().find(|p| p.peer.starts_with("greenhub")))
        .copied()
}

/// A duration in nanoseconds, in the unit that reads best.
pub fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_best_unit() {
        assert_eq!(human_ns(4.25), "4.2 ns");
        assert_eq!(human_ns(1_500.0), "1.50 us");
        assert_eq!(human_ns(2_500_000.0), "2.50 ms");
    }

    #[test]
    fn criterion_estimates_are_read_and_greenhub_comes_first() {
        let dir = std::env::temp_dir().join(format!("greenhub-report-test-{}", std::process::id()));
        for (peer, ns) in [("tokio_current_thread", 380.0), ("greenhub", 4.3)] {
            let new = dir.join("yield_now").join(peer).join("new");
            std::fs::create_dir_all(&new).unwrap();
            std::fs::write(
                new.join("benchmark.json"),
                format!(r#"{{"group_id":"yield_now","function_id":"{peer}"}}"#),
            )
            .unwrap();
            std::fs::write(
                new.join("estimates.json"),
                format!(r#"{{"median":{{"point_estimate":{ns}}}}}"#),
            )
            .unwrap();
        }
        let found = read_criterion(&dir, &["yield_now"]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].peer, "greenhub");
        let groups = by_group(&found);
        assert_eq!(greenhub_of(&groups[0].1).unwrap().median_ns, 4.3);
    }
}
