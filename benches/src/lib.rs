//! Shared helpers for the benchmarks against peers.

pub mod peers;
pub mod rss;
