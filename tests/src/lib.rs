//! Harnesses for the end-to-end tests and the benchmark: the deployment run as processes.

pub mod cluster;
