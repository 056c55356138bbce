//! Prometheus metrics of every socialscalr role, served as text at `GET /metrics` on a
//! listener of their own (`METRICS_ADDR`) beside `GET /healthz` and `GET /readyz`.
//!
//! Label values come from bounded sets (route templates, status codes, event types,
//! outcomes), except workspace ids: those go on a few counters only, and past
//! `SOCIALSCALR_METRICS_MAX_WORKSPACES` distinct ids a process folds the rest into
//! `workspace="other"`. `docs/metrics.md` lists every metric.

mod api;
mod delivery;
mod labels;
mod limiter;
mod server;

use std::sync::Arc;

use prometheus::{Encoder, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub use api::ApiMetrics;
pub use delivery::DeliveryMetrics;
pub use labels::{OTHER_WORKSPACE, WorkspaceLabels};
pub use limiter::register_limiter;
pub use server::{ReadyCheck, serve, spawn_listener, store_ready};

/// Distinct workspace label values a process keeps unless configured otherwise.
pub const DEFAULT_MAX_WORKSPACES: u32 = 100;

/// The metrics of one process: its registry and its bound on workspace labels.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    workspaces: Arc<WorkspaceLabels>,
}

impl Metrics {
    /// A registry for the process in `role`, keeping at most `max_workspaces` distinct
    /// workspace labels.
    pub fn new(role: &str, max_workspaces: u32) -> Metrics {
        let registry = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new(
                "socialscalr_build_info",
                "Always 1; the version and role of this process.",
            ),
            &["version", "role"],
        )
        .expect("a valid metric");
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), role])
            .set(1);
        let labelled = IntGauge::new(
            "socialscalr_metrics_workspace_labels",
            "Distinct workspace label values in use; past the cap, workspaces count as other.",
        )
        .expect("a valid metric");
        register(&registry, build.clone());
        register(&registry, labelled.clone());
        Metrics {
            registry,
            workspaces: Arc::new(WorkspaceLabels::new(max_workspaces, labelled)),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn workspaces(&self) -> &Arc<WorkspaceLabels> {
        &self.workspaces
    }

    /// Everything registered, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = Vec::new();
        let families = self.registry.gather();
        if let Err(error) = TextEncoder::new().encode(&families, &mut text) {
            tracing::error!(%error, "Encoding the metrics failed");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// Registers a collector whose name is fixed in this crate; a clash is a programming
/// error caught by the tests.
fn register<C: prometheus::core::Collector + 'static>(registry: &Registry, collector: C) {
    registry
        .register(Box::new(collector))
        .expect("each metric is registered once per registry");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_registry_carries_the_build_info() {
        let metrics = Metrics::new("dispatcher", 10);
        let text = metrics.encode();
        assert!(
            text.contains(r#"socialscalr_build_info{role="dispatcher",version="#),
            "{text}"
        );
        assert!(
            text.contains("socialscalr_metrics_workspace_labels 0"),
            "{text}"
        );
    }
}
