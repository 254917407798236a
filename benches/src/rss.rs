//! Resident memory of a process, read from `/proc` (Linux).

/// This process's resident set size in bytes, or `None` where `/proc` is not available.
pub fn resident_bytes() -> Option<u64> {
    resident_bytes_of("self")
}

/// The resident set size of process `pid` in bytes.
pub fn resident_bytes_of_pid(pid: u32) -> Option<u64> {
    resident_bytes_of(&pid.to_string())
}

/// The peak resident set size (`VmHWM`) of process `pid` in bytes.
pub fn peak_resident_bytes_of_pid(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn resident_bytes_of(process: &str) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{process}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    4096
}
