//! Cooperative standard input: read lines from the keyboard or a pipe without blocking the hub.

// Inside the crate, also the home of `source::Source`: the registered descriptor that every
// socket wraps, and its one try / park-until-ready / retry loop.
pub(crate) mod source;
mod stdin;

pub use stdin::{stdin, Lines, Stdin};
