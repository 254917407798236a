//! Child processes whose pipes and exit park the calling green thread instead of blocking its
//! hub: [`Command`] with std's builder names, a [`Child`] whose [`wait`](Child::wait) parks only
//! the caller (a pidfd on Linux; elsewhere a poll of the child's status with a growing pause),
//! and pipes that implement `std::io::Read` and `Write`.

mod child;
mod command;
mod exit;

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use command::Command;
pub use std::process::{ExitStatus, Output, Stdio};
