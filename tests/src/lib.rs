//! Harnesses shared by the end-to-end tests and the tests of the Helm chart.

pub mod testkube;
