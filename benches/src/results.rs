//! Machine-readable results: each end-to-end harness leaves a JSON file for the report when
//! `GREENHUB_BENCH_RESULTS` names a directory, and prints its tables either way.

use std::path::PathBuf;

/// The environment variable naming the directory results go to.
pub const RESULTS_ENV: &str = "GREENHUB_BENCH_RESULTS";

/// Writes `value` as `<dir>/<name>.json` when [`RESULTS_ENV`] is set.
///
/// # Errors
///
/// When the directory or file cannot be written.
pub fn record(name: &str, value: &serde_json::Value) -> std::io::Result<()> {
    let Some(dir) = std::env::var_os(RESULTS_ENV).map(PathBuf::from) else {
        return Ok(());
    };
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(value)?,
    )
}
