//! Harnesses for the end-to-end tests, the benchmark and the Helm chart's tests: the
//! deployment run as processes, and a private Kubernetes API server.

pub mod cluster;
pub mod testkube;
