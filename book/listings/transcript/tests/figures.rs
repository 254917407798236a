//! Numbers from one source. Every measured figure the book quotes comes from the benchmark report
//! or the PROOF page: through an include of `benches/report/figures.md` (which the report
//! generator writes with REPORT.md), or written out and then found, as written, in
//! `benches/REPORT.md` or `benches/PROOF.md`. Numbers that are not measurements (a default, a
//! listing's own setting) are listed with a reason in `book/FIGURES.md`. See that file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The cells of REPORT.md's tables under the names the generator gives them in figures.md.
fn report_cells(report: &str) -> BTreeMap<String, String> {
    let safe = |k: &str| -> String {
        k.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = |keys: &[&str]| keys.iter().map(|k| safe(k)).collect::<Vec<_>>().join("-");
    let mut cells = BTreeMap::new();
    let (mut section, mut group, mut header_seen) = ("", "", false);
    for line in report.lines() {
        if let Some(s) = line.strip_prefix("## ") {
            (section, group, header_seen) = (s, "", false);
            continue;
        }
        if let Some(g) = line.strip_prefix("### ") {
            (group, header_seen) = (g, false);
            continue;
        }
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        if !header_seen {
            header_seen = true;
            continue;
        }
        let c: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let mut add = |keys: &[&str], value: &str| {
            cells.insert(name(keys), value.to_string());
        };
        if section.starts_with("Primitives") {
            add(&[group, c[0]], c[1]);
        } else if section.starts_with("Memory") {
            add(&["memory", c[0]], c[1]);
        } else if section.starts_with("Echo") {
            for (column, i) in [
                ("round_trips", 2),
                ("p50", 3),
                ("p99", 4),
                ("cpu", 5),
                ("rss", 7),
            ] {
                add(&["echo", c[0], c[1], column], c[i]);
            }
        } else if section.starts_with("Chat fan-out") && group.is_empty() {
            let columns = [
                ("deliveries", 2),
                ("p50", 3),
                ("p99", 4),
                ("lost", 5),
                ("cpu", 6),
                ("rss", 7),
            ];
            for (column, i) in columns {
                add(&["chat", c[0], c[1], column], c[i]);
            }
        } else if section.starts_with("Chat fan-out") && group.starts_with("Idle") {
            add(&["idle", c[1]], c[2]);
        } else if section.starts_with("Chat fan-out") && group.starts_with("Two servers") {
            if c[3].starts_with("skipped") {
                continue;
            }
            let setup = if c[0].starts_with("two") {
                "two_servers"
            } else {
                "one_server"
            };
            let columns = [
                ("clients", 1),
                ("offered", 2),
                ("deliveries", 3),
                ("p50", 4),
                ("p99", 5),
                ("lost", 6),
                ("cpu", 7),
                ("broker_cpu", 8),
            ];
            for (column, i) in columns {
                add(&["cluster", setup, column], c[i]);
            }
        }
    }
    cells
}

/// The anchors of figures.md and the value between each pair.
fn figures(text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line
            .strip_prefix("<!-- ANCHOR: ")
            .and_then(|l| l.strip_suffix(" -->"))
        {
            let value = lines.next().unwrap_or_default().to_string();
            assert_eq!(
                lines.next(),
                Some(format!("<!-- ANCHOR_END: {name} -->").as_str()),
                "figures.md: {name} holds one line"
            );
            found.insert(name.to_string(), value);
        }
    }
    found
}

#[test]
fn figures_md_repeats_every_cell_of_report_md() {
    let cells = report_cells(&read("benches/REPORT.md"));
    let figures = figures(&read("benches/report/figures.md"));
    assert!(cells.len() > 100, "the report's tables were read");
    assert_eq!(
        cells, figures,
        "benches/report/figures.md and the tables of benches/REPORT.md disagree: the report \
         generator writes both from one run; do not edit either by hand"
    );
}

/// A chapter's prose: fenced code blocks, inline code and `{{#...}}` directives removed.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            out.push_str(line);
            out.push('\n');
        }
    }
    let mut cleaned = String::new();
    let mut rest = out.as_str();
    while let Some(start) = rest.find("{{#") {
        cleaned.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("}}")
            .map_or("", |(_, after)| after);
    }
    cleaned.push_str(rest);
    // Inline code is a name or a command, not a quoted figure.
    cleaned
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(" ")
}

const UNITS: &[&str] = &[
    "ns",
    "us",
    "µs",
    "μs",
    "ms",
    "KiB",
    "MiB",
    "GiB",
    "kB",
    "KB",
    "MB",
    "deliveries",
    "round trips",
    "nanoseconds",
    "microseconds",
    "milliseconds",
];

/// Each number followed by a unit of time, memory or throughput: `4.1 ns`, `487,080,000
/// deliveries`, `17-29 us` (both ends).
fn quoted_figures(prose: &str) -> Vec<String> {
    let chars: Vec<char> = prose.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len()
            && (chars[end].is_ascii_digit()
                || ((chars[end] == ','
                    || chars[end] == '.'
                    || chars[end] == '-'
                    || chars[end] == '–')
                    && chars.get(end + 1).is_some_and(char::is_ascii_digit)))
        {
            end += 1;
        }
        let number: String = chars[i..end].iter().collect();
        let after: String = chars[end..].iter().take(14).collect();
        let after = after.strip_prefix(' ').unwrap_or(&after);
        let unit = UNITS.iter().find(|u| {
            after.starts_with(*u)
                && !after[u.len()..].starts_with(|c: char| c.is_alphanumeric() && !"s".contains(c))
        });
        if let Some(unit) = unit {
            for part in number.split(['-', '–']) {
                found.push(format!("{part} {unit}"));
            }
        }
        i = end.max(i + 1);
    }
    found
}

/// The same unit however the prose spells it.
fn canonical(unit: &str) -> &str {
    match unit {
        "µs" | "μs" | "microseconds" => "us",
        "nanoseconds" => "ns",
        "milliseconds" => "ms",
        other => other,
    }
}

/// Whether `figure` (`4.1 ns`, `487,080,000 deliveries`) stands in `text`: the number as
/// written and not part of a longer one, then its unit (spelled as the report spells it).
fn appears(text: &str, figure: &str) -> bool {
    let (number, unit) = figure.split_once(' ').unwrap_or((figure, ""));
    let unit = canonical(unit);
    text.match_indices(number).any(|(at, _)| {
        let number_like = |c: char| c.is_ascii_digit() || c == '.' || c == ',';
        let before = text[..at].chars().next_back();
        let rest = &text[at + number.len()..];
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        !before.is_some_and(number_like)
            && UNITS
                .iter()
                .any(|u| canonical(u) == unit && rest.starts_with(u))
    })
}

/// `book/FIGURES.md`'s list of numbers that are not measurements: `- file.md: `figure` ...`,
/// and the chapters not checked yet.
fn allowed() -> (Vec<(String, String)>, Vec<String>) {
    let text = read("book/FIGURES.md");
    let mut figures = Vec::new();
    let mut unchecked = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("## ") {
            section = s;
            continue;
        }
        let Some(item) = line.strip_prefix("- ") else {
            continue;
        };
        if section.starts_with("Numbers that are not measurements") {
            if let Some((file, rest)) = item.split_once(": `") {
                let figure = rest.split('`').next().unwrap_or_default();
                figures.push((file.trim().to_string(), figure.to_string()));
            }
        } else if section.starts_with("Chapters not checked yet") {
            unchecked.push(
                item.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_matches('`')
                    .to_string(),
            );
        }
    }
    (figures, unchecked)
}

#[test]
fn every_number_the_prose_quotes_comes_from_the_report_or_the_proof() {
    let sources = read("benches/REPORT.md") + &read("benches/PROOF.md");
    let (allowed, unchecked) = allowed();
    let mut problems = Vec::new();
    let dir = root().join("book/src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("book/src")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if unchecked.contains(&name) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for figure in quoted_figures(&prose(&text)) {
            let listed = allowed.iter().any(|(f, a)| *f == name && *a == figure);
            if !listed && !appears(&sources, &figure) {
                problems.push(format!("{name}: \"{figure}\""));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "figures in the book's prose that are in neither benches/REPORT.md nor benches/PROOF.md; \
         include them from benches/report/figures.md, quote them as the report writes them, or \
         list them in book/FIGURES.md if they are not measurements:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_figures_and_tells_numbers_apart() {
    let text = "A switch takes 4 ns, {{#include x:y}} more; `8 MiB` is code; 17-29 us and 1,810 s.\n```\n9 us\n```\n";
    assert_eq!(quoted_figures(&prose(text)), ["4 ns", "17 us", "29 us"]);
    assert!(appears("| greenhub | 4.1 ns |", "4.1 ns"));
    assert!(!appears("| greenhub | 14.1 ns |", "4.1 ns"));
    assert!(!appears("| greenhub | 4.15 ns |", "4.1 ns"));
    assert!(!appears("4 runs of 4", "4 ns"));
    assert!(appears("| 2.83 us |", "2.83 µs"));
    assert!(appears(
        "about 487,080,000 deliveries.",
        "487,080,000 deliveries"
    ));
    assert_eq!(
        quoted_figures("7.5 ns per yield, 48 us a round trip, 450,000 deliveries/s"),
        ["7.5 ns", "48 us", "450,000 deliveries"]
    );
}
