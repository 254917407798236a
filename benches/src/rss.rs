//! Resident memory of this process, read from `/proc/self/statm` (Linux).

/// The resident set size in bytes, or `None` where `/proc` is not available.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    4096
}
