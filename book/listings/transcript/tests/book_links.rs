//! The book cannot rot silently: every `{{#include}}` names a file and anchor that exist, every
//! link points at a chapter or file that exists, and SUMMARY.md lists exactly the chapters.

use std::path::{Path, PathBuf};

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src")
}

fn chapters() -> Vec<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir(book_src())
        .expect("book/src exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a readable chapter");
            (p, text)
        })
        .collect();
    found.sort();
    found
}

/// The texts between `open` and `close` in `text`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// What is wrong with one `{{#include path[:anchor]}}` seen from `chapter`, if anything.
fn include_problem(chapter: &Path, spec: &str) -> Option<String> {
    let spec = spec.trim();
    let (path, anchor) = match spec.split_once(':') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (spec, None),
    };
    let file = chapter.parent()?.join(path);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Some(format!("includes {path}, which does not exist"));
    };
    let anchor = anchor?;
    if anchor.chars().all(|c| c.is_ascii_digit() || c == ':') {
        let last = anchor
            .split(':')
            .filter_map(|n| n.parse::<usize>().ok())
            .max()?;
        return (last > text.lines().count())
            .then(|| format!("includes lines up to {last} of {path}, which is shorter"));
    }
    // `// ANCHOR: name` in Rust, `<!-- ANCHOR: name -->` in Markdown.
    let marks = |l: &str, mark: &str| {
        let l = l.trim_end();
        let l = l.strip_suffix("-->").map_or(l, str::trim_end);
        l.ends_with(&format!("{mark}: {anchor}"))
    };
    let opens = text.lines().any(|l| marks(l, "ANCHOR"));
    let closes = text.lines().any(|l| marks(l, "ANCHOR_END"));
    (!opens || !closes).then(|| format!("includes anchor {anchor} of {path}, which is missing"))
}

#[test]
fn every_include_names_a_file_and_anchor_that_exist() {
    let mut problems = Vec::new();
    for (chapter, text) in chapters() {
        for spec in between(&text, "{{#include ", "}}") {
            if let Some(problem) = include_problem(&chapter, spec) {
                problems.push(format!("{}: {problem}", chapter.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_link_points_at_something_that_exists() {
    let mut problems = Vec::new();
    for (chapter, text) in chapters() {
        for target in between(&text, "](", ")") {
            let target = target.split_whitespace().next().unwrap_or("");
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            if !chapter.parent().unwrap().join(path).exists() {
                problems.push(format!(
                    "{} links to {target}, which does not exist",
                    chapter.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_summary_lists_exactly_the_chapters() {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let listed: Vec<&str> = between(&summary, "](", ")");
    for (chapter, _) in chapters() {
        let name = chapter.file_name().unwrap().to_str().unwrap();
        if name != "SUMMARY.md" {
            assert!(listed.contains(&name), "{name} is not in SUMMARY.md");
        }
    }
}

#[test]
fn a_missing_anchor_or_file_is_reported() {
    let chapter = book_src().join("ch01-sockets.md");
    assert!(include_problem(&chapter, "../listings/ch01-sockets/src/lib.rs:server").is_none());
    assert!(include_problem(
        &chapter,
        "../listings/ch01-sockets/src/lib.rs:no_such_anchor"
    )
    .is_some_and(|p| p.contains("anchor no_such_anchor")));
    assert!(include_problem(&chapter, "../listings/nowhere.rs").is_some());
    assert!(include_problem(
        &chapter,
        "../../benches/report/figures.md:yield_now-greenhub"
    )
    .is_none());
    assert!(
        include_problem(&chapter, "../../benches/report/figures.md:yield_now-nobody").is_some()
    );
}
