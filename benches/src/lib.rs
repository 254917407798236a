//! Shared helpers for the benchmarks against peers.

pub mod echo;
pub mod peers;
pub mod rss;
