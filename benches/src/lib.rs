//! Shared helpers for the benchmarks against peers.
