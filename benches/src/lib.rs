//! Shared helpers for the benchmarks against peers.

pub mod chat;
pub mod echo;
pub mod peers;
pub mod process;
pub mod rss;
