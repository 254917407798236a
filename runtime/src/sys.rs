//! The one place where a raw `-1` return becomes an `io::Error`.
//!
//! Each call site makes its own `unsafe` call and states its own safety argument in a
//! `// SAFETY:` comment, where the lint can see it; this only interprets the result:
//!
//! ```text
//! // SAFETY: epoll_create1 takes no pointers.
//! let epoll = os_result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
//! ```

/// A libc return value that signals failure with `-1` (and the reason in `errno`).
pub(crate) trait MinusOneIsError: Copy + PartialEq {
    const MINUS_ONE: Self;
}

impl MinusOneIsError for i32 {
    const MINUS_ONE: i32 = -1;
}

impl MinusOneIsError for isize {
    const MINUS_ONE: isize = -1;
}

/// Turns a libc result of `-1` into `io::Error::last_os_error()`, and anything else into `Ok`.
pub(crate) fn os_result<T: MinusOneIsError>(result: T) -> std::io::Result<T> {
    if result == T::MINUS_ONE {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// A monotonic clock in nanoseconds that is cheap to read (a few nanoseconds, no system call)
/// and only as fine as the kernel's tick: for how long green threads have been parked.
pub(crate) fn coarse_now_nanos() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW_APPROX;
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "macos",
        target_os = "ios"
    )))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; clock_gettime(2) only writes it. With a
    // clock id the platform has, it cannot fail (and on failure `now` stays zero).
    unsafe { libc::clock_gettime(CLOCK, &mut now) };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// Writes a report to stderr, ignoring failure: a closed or broken stderr must not turn a report
/// into a panic (`eprintln!` panics on EPIPE), least of all in the runtime's own error paths.
pub(crate) fn report(message: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(message.as_bytes());
}
