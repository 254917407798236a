//! What the operating system allows a server of `max_clients`: descriptors (RLIMIT_NOFILE)
//! and memory maps (`vm.max_map_count`; each green thread's guarded stack takes two, and a
//! client has two green threads). The `chat-server` binary raises its soft descriptor limit
//! to the hard one at start-up and warns when `--max-clients` is more than either allows,
//! rather than finding out as client 1,015 hangs with no message at all.

use std::io;

/// Descriptors the server needs besides one per client: listeners, the poller, wake-ups,
/// stdio, and the clients being told the server is full.
pub const SPARE_DESCRIPTORS: u64 = 64;

/// Memory maps the process needs besides its clients' stacks: the binary, its libraries, the
/// heap's arenas.
pub const SPARE_MAPS: u64 = 1024;

/// Raises the soft RLIMIT_NOFILE to the hard limit ([`setrlimit(2)`]) and returns the
/// descriptors now allowed.
///
/// [`setrlimit(2)`]: https://man7.org/linux/man-pages/man2/setrlimit.2.html
///
/// # Errors
///
/// When the limit cannot be read or set.
///
/// # Examples
///
/// ```
/// let allowed = chat_demo::limits::raise_descriptor_limit()?;
/// assert!(allowed > 3);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raise_descriptor_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes to a valid, exclusively borrowed rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every Unix
    Ok(limit.rlim_cur as u64)
}

/// The kernel's `vm.max_map_count`, where there is one to read.
pub fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What stops `max_clients` clients from being served with `descriptors` allowed, as
/// sentences that say what to do: one per limit that is too low.
///
/// # Examples
///
/// ```
/// use chat_demo::limits::capacity_warnings;
/// assert!(capacity_warnings(100, 1 << 20).is_empty());
/// let warnings = capacity_warnings(10_000, 1024);
/// assert!(warnings[0].contains("descriptors"));
/// ```
pub fn capacity_warnings(max_clients: usize, descriptors: u64) -> Vec<String> {
    let clients = max_clients as u64;
    let mut warnings = Vec::new();
    let needed = clients.saturating_add(SPARE_DESCRIPTORS);
    if needed > descriptors {
        warnings.push(format!(
            "--max-clients {max_clients} needs about {needed} descriptors but only {descriptors} \
             are allowed: clients past {} will not be served; raise the hard limit (ulimit -Hn, \
             LimitNOFILE=) or lower --max-clients",
            descriptors.saturating_sub(SPARE_DESCRIPTORS)
        ));
    }
    if let Some(maps) = max_map_count() {
        // Two green threads a client, two maps a stack.
        let needed = clients.saturating_mul(4).saturating_add(SPARE_MAPS);
        if needed > maps {
            warnings.push(format!(
                "--max-clients {max_clients} needs about {needed} memory maps but \
                 vm.max_map_count is {maps}: clients past {} will not be served; raise it \
                 (sysctl -w vm.max_map_count={needed}) or lower --max-clients",
                maps.saturating_sub(SPARE_MAPS) / 4
            ));
        }
    }
    warnings
}
