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

/// Where a process serves its metrics and how many workspace labels it keeps, from
/// `METRICS_ADDR` and `SOCIALSCALR_METRICS_MAX_WORKSPACES`.
#[derive(Debug, Clone, Copy)]
pub struct MetricsSettings {
    pub addr: Option<std::net::SocketAddr>,
    pub max_workspaces: u32,
}

impl MetricsSettings {
    pub fn from_env() -> Result<MetricsSettings, socialscalr_core::config::ConfigError> {
        use socialscalr_core::config;
        Ok(MetricsSettings {
            addr: config::metrics_addr()?,
            max_workspaces: config::count(
                config::METRICS_MAX_WORKSPACES,
                DEFAULT_MAX_WORKSPACES,
                0..=100_000,
            )?,
        })
    }

    /// The registry of the process in `role`, with the limiter's metrics on it.
    pub fn registry(
        &self,
        role: &str,
        limiter: &Arc<socialscalr_core::ratelimit::Limiter>,
    ) -> Metrics {
        let metrics = Metrics::new(role, self.max_workspaces);
        register_limiter(&metrics, Arc::clone(limiter));
        metrics
    }

    /// Serves `metrics` at the configured address, when there is one; readiness follows
    /// the store.
    pub async fn serve(
        &self,
        metrics: Metrics,
        store: &Arc<dyn socialscalr_core::store::Store>,
    ) -> std::io::Result<()> {
        if let Some(addr) = self.addr {
            spawn_listener(addr, metrics, store_ready(Arc::clone(store))).await?;
        }
        Ok(())
    }
}

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
