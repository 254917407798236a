//! The architecture, checked: the layers of `runtime/src` (see ARCHITECTURE.md) stay layers.
//!
//! - At every folder level, the modules' imports form no circle of more than two modules. An
//!   import is any path through `crate::` or `super::` in code (in `use` lines and inline, test
//!   modules included), resolved to the module it names; a name the crate root re-exports counts
//!   as an import of the module it comes from, so the root is no back door.
//! - At the top level the folders form no circle at all: each imports only those below it.
//! - No source file is over 500 lines, `Hub` has at most a dozen fields, and the crate keeps its
//!   per-thread state in one `thread_local!`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModulePath = Vec<String>;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with the module path it defines.
fn modules(dir: &Path, root: &Path, out: &mut BTreeMap<ModulePath, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            modules(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: ModulePath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The code of a file without its comments (doc links name paths that are not imports).
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands the path starting at `text` (just after `crate::` or `super::`) into every path it
/// names: `a::{b, c::{d}}` gives `a::b` and `a::c::d`.
fn expand(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let bytes = text.as_bytes();
    let mut path = prefix.to_vec();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return i + 1;
                }
                i += expand(&text[i..], &path, out);
            }
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if start == i {
            out.push(path);
            return i;
        }
        path.push(text[start..i].to_string());
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The modules `module`'s code refers to, resolved against the module tree.
fn imports(
    module: &ModulePath,
    code: &str,
    all: &BTreeMap<ModulePath, String>,
    reexports: &BTreeMap<String, ModulePath>,
) -> BTreeSet<ModulePath> {
    let mut found = BTreeSet::new();
    for (marker, from_root) in [("crate::", true), ("super::", false)] {
        let mut rest = code;
        while let Some(at) = rest.find(marker) {
            let before = rest[..at].chars().last();
            rest = &rest[at + marker.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue; // `self::super::`, `greenhub_crate::`, ...
            }
            let base: ModulePath = if from_root {
                Vec::new()
            } else {
                // `super` of a `foo/mod.rs` module is its parent, as for `foo.rs`.
                module[..module.len().saturating_sub(1)].to_vec()
            };
            let mut paths = Vec::new();
            expand(rest, &base, &mut paths);
            for path in paths {
                let mut target: ModulePath = Vec::new();
                for len in 1..=path.len() {
                    if all.contains_key(&path[..len]) {
                        target = path[..len].to_vec();
                    } else {
                        break;
                    }
                }
                if target.is_empty() {
                    if let Some(name) = path.first() {
                        if let Some(source) = reexports.get(name) {
                            target = source.clone();
                        }
                    }
                }
                found.insert(target);
            }
        }
    }
    found
}

/// What the crate root re-exports, by name, and the module each comes from.
fn root_reexports(lib: &str, all: &BTreeMap<ModulePath, String>) -> BTreeMap<String, ModulePath> {
    let mut names = BTreeMap::new();
    let code = code_of(lib);
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(at) = statement.find("use ") else {
            continue;
        };
        if !statement.starts_with("pub") {
            continue;
        }
        let mut paths = Vec::new();
        expand(&statement[at + 4..], &[], &mut paths);
        for path in paths {
            let mut source: ModulePath = Vec::new();
            for len in 1..path.len() {
                if all.contains_key(&path[..len]) {
                    source = path[..len].to_vec();
                }
            }
            if let Some(name) = path.last() {
                names.insert(name.clone(), source);
            }
        }
    }
    names
}

/// The strongly connected components with more than one member.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|targets| targets.iter()))
        .collect();
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for node in &nodes {
        if done.contains(*node) {
            continue;
        }
        let component: Vec<String> = nodes
            .iter()
            .filter(|other| {
                *other == node || (reach[node].contains(**other) && reach[**other].contains(*node))
            })
            .map(|n| (*n).clone())
            .collect();
        done.extend(component.iter().cloned());
        if component.len() > 1 {
            found.push(component);
        }
    }
    found
}

struct Tree {
    modules: BTreeMap<ModulePath, String>,
    edges: BTreeMap<ModulePath, BTreeSet<ModulePath>>,
}

fn tree() -> Tree {
    let root = source_root();
    let mut modules_found = BTreeMap::new();
    modules(&root, &root, &mut modules_found);
    let reexports = root_reexports(&modules_found[&Vec::new()], &modules_found);
    let edges = modules_found
        .iter()
        .map(|(module, source)| {
            let code = code_of(source);
            (
                module.clone(),
                imports(module, &code, &modules_found, &reexports),
            )
        })
        .collect();
    Tree {
        modules: modules_found,
        edges,
    }
}

/// The import graph among the children of `folder`: an import from anything inside child `a`
/// to anything inside child `b` is an edge `a -> b`.
fn level(tree: &Tree, folder: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &tree.edges {
        if from.len() <= folder.len() || from[..folder.len()] != *folder {
            continue;
        }
        for to in targets {
            if to.len() <= folder.len() || to[..folder.len()] != *folder {
                continue;
            }
            let (a, b) = (&from[folder.len()], &to[folder.len()]);
            if a != b {
                graph.entry(a.clone()).or_default().insert(b.clone());
            }
        }
    }
    graph
}

#[test]
fn no_import_circle_of_more_than_two_modules_at_any_folder_level() {
    let tree = tree();
    let folders: BTreeSet<ModulePath> = tree
        .modules
        .keys()
        .flat_map(|m| (0..m.len()).map(move |len| m[..len].to_vec()))
        .collect();
    let mut problems = Vec::new();
    for folder in &folders {
        for circle in circles(&level(&tree, folder)) {
            let name = if folder.is_empty() {
                "src".to_string()
            } else {
                format!("src/{}", folder.join("/"))
            };
            if folder.is_empty() || circle.len() > 2 {
                problems.push(format!("{name}: {}", circle.join(" <-> ")));
            } else {
                eprintln!(
                    "allowed two-module circle in {name}: {}",
                    circle.join(" <-> ")
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "import circles (the top level must have none; below, at most two modules):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_circles() {
    // A checker that finds nothing proves nothing: it must see the hub import the task layer,
    // and report a circle made on purpose.
    let tree = tree();
    let top = level(&tree, &[]);
    assert!(top["hub"].contains("task"), "{top:?}");
    assert!(top["thread"].contains("hub"), "{top:?}");
    let mut with_circle = top.clone();
    with_circle
        .entry("task".to_string())
        .or_default()
        .insert("thread".to_string());
    assert!(!circles(&with_circle).is_empty());
    let mut paths = Vec::new();
    expand("a::{b, c::{d, e}}, f", &[], &mut paths);
    assert_eq!(
        paths,
        [vec!["a", "b"], vec!["a", "c", "d"], vec!["a", "c", "e"]]
    );
}

/// The layers as ARCHITECTURE.md draws them, top first: each row's modules.
fn drawn_layers() -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).expect("ARCHITECTURE.md at the repository root");
    let diagram = text
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a text diagram in ARCHITECTURE.md");
    diagram
        .lines()
        .map(|line| {
            line.split_whitespace()
                .take_while(|word| word.ends_with('/') || word.ends_with(".rs"))
                .map(|word| {
                    word.trim_end_matches('/')
                        .trim_end_matches(".rs")
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .filter(|row| !row.is_empty())
        .collect()
}

#[test]
fn architecture_md_draws_every_top_level_module_above_what_it_imports() {
    let tree = tree();
    let rows = drawn_layers();
    let row_of = |module: &str| rows.iter().position(|row| row.iter().any(|m| m == module));
    let top_level: BTreeSet<String> = tree
        .modules
        .keys()
        .filter(|m| m.len() == 1)
        .map(|m| m[0].clone())
        .collect();
    let drawn: BTreeSet<String> = rows.iter().flatten().cloned().collect();
    assert_eq!(
        drawn, top_level,
        "ARCHITECTURE.md's diagram and runtime/src differ"
    );
    for (from, targets) in level(&tree, &[]) {
        for to in targets {
            assert!(
                row_of(&from) < row_of(&to),
                "{from} imports {to}, which ARCHITECTURE.md draws at its level or above it"
            );
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let tree = tree();
    let long: Vec<String> = tree
        .modules
        .iter()
        .filter(|(_, source)| source.lines().count() > 500)
        .map(|(module, source)| format!("{} ({} lines)", module.join("/"), source.lines().count()))
        .collect();
    assert!(long.is_empty(), "files over 500 lines: {long:?}");
}

#[test]
fn hub_has_at_most_a_dozen_fields() {
    let source = std::fs::read_to_string(source_root().join("hub/mod.rs")).unwrap();
    let body = source
        .split("pub(crate) struct Hub {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("struct Hub in hub/mod.rs");
    let fields = code_of(body)
        .lines()
        .filter(|line| line.trim_end().ends_with(',') && line.contains(':'))
        .count();
    assert!((3..=12).contains(&fields), "Hub has {fields} fields");
}

#[test]
fn per_thread_state_lives_in_one_thread_local() {
    let tree = tree();
    let places: Vec<String> = tree
        .modules
        .iter()
        .filter(|(_, source)| code_of(source).contains("thread_local!"))
        .map(|(module, _)| module.join("/"))
        .collect();
    assert_eq!(places, ["hub/context"], "thread-locals outside the context");
}
