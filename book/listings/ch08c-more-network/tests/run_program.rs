//! Runs one of the crate's programs and compares what it printed with its transcript in
//! `output/`. Shared by the book crates whose output holds timings or ports (see `check_shape`).

#![allow(dead_code)] // each test file uses part of it

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Runs `program` with `args` and `env`, feeding it `input` one chunk at a time with `pause`
/// between chunks; returns its exit status and what it printed, standard output and standard
/// error interleaved as on a terminal (through `sh -c 'exec "$0" "$@" 2>&1'`).
pub fn run_with_input(
    program: &str,
    args: &[&str],
    input: &[&str],
    pause: Duration,
    env: &[(&str, &str)],
) -> (ExitStatus, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&1")
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the listing's program");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let chunks: Vec<String> = input.iter().map(|c| c.to_string()).collect();
    let feeder = std::thread::spawn(move || {
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(pause);
            }
            let _ = stdin.write_all(chunk.as_bytes());
        }
        std::thread::sleep(pause);
    });
    let out = child.wait_with_output().expect("wait for the program");
    feeder.join().expect("the input feeder panicked");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs `program` with `args` and `env` and no input; see [`run_with_input`].
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    run_with_input(program, args, &[], Duration::ZERO, env)
}

/// Every run of digits replaced by `#`: timings, ports and line numbers differ between runs,
/// the words around them do not.
pub fn shape(text: &str) -> String {
    let mut shaped = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                shaped.push('#');
            }
            in_number = true;
        } else {
            shaped.push(c);
            in_number = false;
        }
    }
    shaped
}

/// Like `book_transcript::check`, for output that holds timings or ports: the transcript file
/// keeps one real run's text, numbers and all, and a later run must print the same text with
/// possibly other numbers. `UPDATE_TRANSCRIPTS=1` rewrites the file with this run's output.
///
/// # Panics
///
/// When the texts differ in anything but their numbers, or the file is missing.
pub fn check_shape(crate_dir: &str, path: &str, actual: &str) {
    let file = Path::new(crate_dir).join(path);
    if std::env::var_os("UPDATE_TRANSCRIPTS").is_some() {
        std::fs::create_dir_all(file.parent().expect("a file in a directory"))
            .expect("create the output directory");
        std::fs::write(&file, actual).expect("write the transcript");
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run the tests with UPDATE_TRANSCRIPTS=1 to create it. The output was:\n{actual}",
            file.display()
        )
    });
    assert_eq!(
        shape(&expected),
        shape(actual),
        "{} no longer matches what the program prints, numbers aside (UPDATE_TRANSCRIPTS=1 \
         rewrites it). This run printed:\n{actual}",
        file.display()
    );
}

#[test]
fn shape_masks_numbers_only() {
    assert_eq!(shape("port 40123, 12.5 ms"), "port #, #.# ms");
    assert_ne!(shape("TimedOut after 3 ms"), shape("WouldBlock after 3 ms"));
}
