//! The unsafe discipline of `runtime/src`, checked from its source: clippy's
//! `undocumented_unsafe_blocks` (denied in Cargo.toml) sees every `unsafe` block written at its
//! call site, but not one hidden inside a macro, where one blanket comment would stand for
//! every expansion. Finding 15 of the soundness review: `syscall!` did exactly that.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("runtime/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The code of a line, without a trailing `//` comment (good enough for this crate's style,
/// which never puts `//` inside string literals next to `unsafe`).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Lines (1-based) that write `unsafe` inside the body of a `macro_rules!`.
fn unsafe_in_macros(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut depth_at_macro: Option<i64> = None;
    let mut depth = 0i64;
    for (number, line) in text.lines().enumerate() {
        let code = code(line);
        if depth_at_macro.is_none() && code.contains("macro_rules!") {
            depth_at_macro = Some(depth);
        }
        if depth_at_macro.is_some()
            && code
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == "unsafe")
        {
            found.push(number + 1);
        }
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        if depth_at_macro.is_some_and(|d| depth <= d && code.contains('}')) {
            depth_at_macro = None;
        }
    }
    found
}

#[test]
fn no_macro_hides_an_unsafe_block_from_the_safety_lint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 10, "found the sources in {}", root.display());
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable source file");
            unsafe_in_macros(&text)
                .into_iter()
                .map(move |line| format!("{}:{line}", path.display()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "unsafe inside a macro, where no call site states its own safety argument: {offenders:?}"
    );
}

#[test]
fn the_macro_scan_sees_an_unsafe_block_in_a_macro() {
    let sample = "macro_rules! call {\n    ($f:ident) => {{\n        unsafe { libc::$f() }\n    }};\n}\nfn outside() { unsafe { x() } }\n";
    assert_eq!(unsafe_in_macros(sample), vec![3]);
}
