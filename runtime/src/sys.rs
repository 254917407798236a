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

/// Writes a report to stderr, ignoring failure: a closed or broken stderr must not turn a report
/// into a panic (`eprintln!` panics on EPIPE), least of all in the runtime's own error paths.
pub(crate) fn report(message: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(message.as_bytes());
}
