//! Shared helpers for the benchmarks against peers.

pub mod chat;
pub mod echo;
pub mod external;
pub mod peers;
pub mod process;
pub mod report;
pub mod results;
pub mod rss;
