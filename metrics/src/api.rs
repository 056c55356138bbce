//! Metrics of the REST API.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use crate::{Metrics, WorkspaceLabels, register};

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone)]
pub struct ApiMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    workspace_requests: IntCounterVec,
    rate_limited: IntCounterVec,
    workspaces: Arc<WorkspaceLabels>,
}

impl ApiMetrics {
    pub fn register(metrics: &Metrics) -> ApiMetrics {
        let requests = IntCounterVec::new(
            Opts::new(
                "socialscalr_api_requests_total",
                "API requests answered, by method, route template and status code.",
            ),
            &["method", "route", "status"],
        )
        .expect("a valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "socialscalr_api_request_duration_seconds",
                "Time from receiving an API request to its answer, by method and route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("a valid metric");
        let workspace_requests = IntCounterVec::new(
            Opts::new(
                "socialscalr_api_workspace_requests_total",
                "Authenticated API requests by workspace and status class (2xx, 4xx, ...).",
            ),
            &["workspace", "class"],
        )
        .expect("a valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "socialscalr_api_rate_limited_total",
                "API requests refused with 429 over the workspace's rate limit.",
            ),
            &["workspace"],
        )
        .expect("a valid metric");
        let registry = metrics.registry();
        register(registry, requests.clone());
        register(registry, duration.clone());
        register(registry, workspace_requests.clone());
        register(registry, rate_limited.clone());
        ApiMetrics {
            requests,
            duration,
            workspace_requests,
            rate_limited,
            workspaces: Arc::clone(metrics.workspaces()),
        }
    }

    /// One answered request; `route` is the matched template, never the raw path.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// One answered request of an authenticated workspace.
    pub fn workspace_request(&self, workspace_id: &str, status: u16) {
        let class = format!("{}xx", status / 100);
        let workspace = self.workspaces.label(workspace_id);
        self.workspace_requests
            .with_label_values(&[&workspace, &class])
            .inc();
    }

    pub fn rate_limited(&self, workspace_id: &str) {
        let workspace = self.workspaces.label(workspace_id);
        self.rate_limited.with_label_values(&[&workspace]).inc();
    }
}
