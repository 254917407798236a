//! Descriptors without blocking the hub: [`Async`] for any descriptor (pipes, terminals,
//! inotify, a socket from a C library), and cooperative standard input.

// Inside the crate, also the home of `source::Source`: the registered descriptor that every
// socket wraps, and its one try / park-until-ready / retry loop.
mod async_fd;
pub(crate) mod source;
mod stdin;

pub use async_fd::Async;

pub use stdin::{stdin, Lines, Stdin};
