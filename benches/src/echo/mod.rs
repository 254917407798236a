//! The end-to-end echo benchmark: the servers under test, the load generator, and the driver
//! that runs them interleaved and reports medians.

pub mod load;
pub mod servers;
