//! Helpers shared by the server benchmarks.

pub mod seed;
