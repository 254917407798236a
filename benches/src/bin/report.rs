//! One command for every benchmark and a readable report:
//!
//! ```sh
//! cargo run --release -p greenhub-benches --bin report            # full run, ~25 minutes
//! cargo run --release -p greenhub-benches --bin report -- --quick # under two minutes
//! ```
//!
//! Runs the criterion benches (primitives, sync, multicore) and the harnesses (memory, echo,
//! chat) one after the other with a progress bar, then writes `REPORT.md` and PNG charts:
//! into `benches/` for a full run (and the charts into `book/src/benchmarks/` for the book),
//! into `target/bench-report-quick/` for `--quick`.

use clap::Parser;
use greenhub_benches::report::{read_criterion, read_json, write_report, Context, Results};
use greenhub_benches::results::RESULTS_ENV;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs every benchmark against the peers and writes REPORT.md with charts.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Short runs (for CI): criterion at minimum settings, one round of each end-to-end run.
    #[arg(long)]
    quick: bool,
    /// Where REPORT.md and report/*.png go (default: benches/, or target/bench-report-quick/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the report again from the results of the last run, without running anything.
    #[arg(long)]
    render_only: bool,
}

const CRITERION_BENCHES: [&str; 3] = ["primitives", "sync", "multicore"];
const HARNESSES: [&str; 3] = ["memory", "echo", "chat"];
const GROUP_ORDER: [&str; 9] = [
    "yield_now",
    "spawn_join",
    "park_unpark_ping_pong",
    "channel_ping_pong",
    "channel_ping_pong_across_hubs",
    "cross_hub_stream",
    "timers_10k",
    "timeout_overhead",
    "sleeping_memory",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the workspace")
        .to_path_buf()
}

/// Runs one bench target, showing its latest output line on the progress bar and keeping its
/// whole output in `log`.
fn run_bench(
    name: &str,
    args: &[&str],
    results: &Path,
    bar: &indicatif::ProgressBar,
    log: &Path,
) -> io::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "bench",
            "-q",
            "-p",
            "greenhub-benches",
            "--bench",
            name,
            "--",
        ])
        .args(args)
        .env(RESULTS_ENV, results)
        .env("CRITERION_HOME", results.join("criterion"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log.with_extension("stderr.log"))?)
        .spawn()?;
    let mut kept = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            bar.set_message(format!("{name}: {}", line.trim()));
        }
        kept.push_str(&line);
        kept.push('\n');
    }
    std::fs::write(log, kept)?;
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "the {name} benchmark failed ({status}); its output is in {} and {}",
            log.display(),
            log.with_extension("stderr.log").display()
        )));
    }
    Ok(())
}

fn machine() -> Vec<(String, String)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown".into(), |m| m.trim().to_string());
    let memory = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    vec![
        ("CPU".into(), model),
        ("cores".into(), cores.to_string()),
        ("memory".into(), memory),
        (
            "kernel".into(),
            format!(
                "{} {}",
                std::env::consts::OS,
                read("/proc/sys/kernel/osrelease").trim()
            ),
        ),
        ("rustc".into(), rustc),
    ]
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let root = workspace_root();
    let out = args.out.clone().unwrap_or_else(|| {
        if args.quick {
            root.join("target/bench-report-quick")
        } else {
            root.join("benches")
        }
    });
    let results = root.join(if args.quick {
        "target/bench-results-quick"
    } else {
        "target/bench-results"
    });
    if !args.render_only {
        if results.exists() {
            std::fs::remove_dir_all(&results)?;
        }
        std::fs::create_dir_all(&results)?;
    }
    let criterion_args: &[&str] = if args.quick {
        &[
            "--noplot",
            "--warm-up-time",
            "0.05",
            "--measurement-time",
            "0.1",
            "--sample-size",
            "10",
        ]
    } else {
        &["--noplot"]
    };
    let harness_args: &[&str] = if args.quick { &["--quick"] } else { &[] };
    let steps: Vec<(&str, &[&str])> = CRITERION_BENCHES
        .iter()
        .map(|b| (*b, criterion_args))
        .chain(HARNESSES.iter().map(|b| (*b, harness_args)))
        .collect();
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(steps.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:20} {pos}/{len} {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let mut timings = Vec::new();
    for (name, bench_args) in steps.iter().filter(|_| !args.render_only) {
        bar.set_message(format!("{name}: building and starting"));
        let step_started = Instant::now();
        let log = results.join(format!("{name}.log"));
        run_bench(name, bench_args, &results, &bar, &log)?;
        timings.push((name.to_string(), step_started.elapsed()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let collected = Results {
        primitives: read_criterion(&results.join("criterion"), &GROUP_ORDER)?,
        memory: read_json(&results, "memory"),
        echo: read_json(&results, "echo"),
        chat: read_json(&results, "chat"),
    };
    let command = format!(
        "cargo run --release -p greenhub-benches --bin report{}",
        if args.quick { " -- --quick" } else { "" }
    );
    let run_file = results.join("run.json");
    let (duration, steps) = if args.render_only {
        // The timings of the run that produced these results.
        let run: serde_json::Value = std::fs::read_to_string(&run_file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let steps = run["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s[0].as_str()?.to_string(),
                    Duration::from_secs_f64(s[1].as_f64()?),
                ))
            })
            .collect();
        (
            Duration::from_secs_f64(run["duration_s"].as_f64().unwrap_or(0.0)),
            steps,
        )
    } else {
        let run = serde_json::json!({
            "duration_s": started.elapsed().as_secs_f64(),
            "steps": timings.iter().map(|(n, t)| serde_json::json!([n, t.as_secs_f64()])).collect::<Vec<_>>(),
        });
        std::fs::write(&run_file, run.to_string())?;
        (started.elapsed(), timings)
    };
    let context = Context {
        machine: machine(),
        command,
        duration,
        steps,
    };
    std::fs::create_dir_all(&out)?;
    write_report(&out, &collected, &context)?;
    if !args.quick && args.out.is_none() {
        // The book's "Measuring" chapter shows the charts of the last full run.
        let book_charts = root.join("book/src/benchmarks");
        std::fs::create_dir_all(&book_charts)?;
        for chart in std::fs::read_dir(out.join("report"))? {
            let chart = chart?.path();
            if let Some(name) = chart.file_name() {
                std::fs::copy(&chart, book_charts.join(name))?;
            }
        }
    }
    println!(
        "wrote {} ({} criterion measurements) in {:.0} s; raw output in {}",
        out.join("REPORT.md").display(),
        collected.primitives.len(),
        started.elapsed().as_secs_f64(),
        results.display()
    );
    Ok(())
}
