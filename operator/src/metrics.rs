//! Prometheus metrics and the health of the watches, served on `METRICS_ADDR`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// How long a watch may keep failing before the operator reports itself unhealthy; the
/// watcher's own backoff retries well within it.
pub const WATCH_FAILURE_TOLERANCE: Duration = Duration::from_secs(60);

pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    durations: HistogramVec,
    pub leader: IntGauge,
    watches: Mutex<BTreeMap<&'static str, WatchState>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchState {
    Running,
    FailingSince(Instant),
    Stopped,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "socialscalr_operator_reconciles_total",
                "Reconciles by resource kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .expect("a valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "socialscalr_operator_reconcile_errors_total",
                "Failed reconciles by resource kind and error class",
            ),
            &["kind", "error"],
        )
        .expect("a valid metric");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "socialscalr_operator_reconcile_duration_seconds",
                "Time a reconcile took, by resource kind and outcome",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["kind", "outcome"],
        )
        .expect("a valid metric");
        let leader = IntGauge::new(
            "socialscalr_operator_leader",
            "1 while this replica holds the leader lease and runs the controllers",
        )
        .expect("a valid metric");
        for collector in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(durations.clone()),
            Box::new(leader.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric registers once");
        }
        Arc::new(Metrics {
            registry,
            reconciles,
            errors,
            durations,
            leader,
            watches: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn reconciled(&self, kind: &str, elapsed: Duration, error: Option<&'static str>) {
        let outcome = if error.is_some() { "error" } else { "success" };
        self.reconciles.with_label_values(&[kind, outcome]).inc();
        self.durations
            .with_label_values(&[kind, outcome])
            .observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            self.errors.with_label_values(&[kind, error]).inc();
        }
    }

    fn set_watch(&self, kind: &'static str, state: Option<WatchState>) {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        match state {
            Some(state) => watches.insert(kind, state),
            None => watches.remove(kind),
        };
    }

    /// The controller of `kind` started watching.
    pub fn watch_started(&self, kind: &'static str) {
        self.set_watch(kind, Some(WatchState::Running));
    }

    /// The controller of `kind` got something from its watch.
    pub fn watch_progressed(&self, kind: &'static str) {
        self.set_watch(kind, Some(WatchState::Running));
    }

    /// The watch of `kind` failed; the watcher retries with backoff.
    pub fn watch_failed(&self, kind: &'static str) {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        let state = watches.entry(kind).or_insert(WatchState::Running);
        if *state == WatchState::Running {
            *state = WatchState::FailingSince(Instant::now());
        }
    }

    /// The controller of `kind` ended without being asked to.
    pub fn watch_stopped(&self, kind: &'static str) {
        self.set_watch(kind, Some(WatchState::Stopped));
    }

    /// The controllers were stopped on purpose (leadership lost or shutdown).
    pub fn watches_released(&self) {
        self.watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The kinds whose watches are stopped or have failed for too long.
    pub fn unhealthy_watches(&self) -> Vec<&'static str> {
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        watches
            .iter()
            .filter(|(_, state)| match state {
                WatchState::Running => false,
                WatchState::FailingSince(since) => since.elapsed() > WATCH_FAILURE_TOLERANCE,
                WatchState::Stopped => true,
            })
            .map(|(kind, _)| *kind)
            .collect()
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

async fn health(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    let unhealthy = metrics.unhealthy_watches();
    if unhealthy.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        let kinds = unhealthy.join(", ");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("watches not running: {kinds}\n"),
        )
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(self::metrics))
        .route("/healthz", get(health))
        .route("/readyz", get(health))
        .with_state(metrics);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "Serving metrics and health");
    }
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_watch_is_unhealthy_and_a_failing_one_only_after_the_tolerance() {
        let metrics = Metrics::new();
        metrics.watch_started("Workspace");
        assert!(metrics.unhealthy_watches().is_empty());
        metrics.watch_failed("Workspace");
        assert!(
            metrics.unhealthy_watches().is_empty(),
            "within the tolerance"
        );
        metrics.set_watch(
            "Workspace",
            Some(WatchState::FailingSince(
                Instant::now() - WATCH_FAILURE_TOLERANCE - Duration::from_secs(1),
            )),
        );
        assert_eq!(metrics.unhealthy_watches(), vec!["Workspace"]);
        metrics.watch_progressed("Workspace");
        assert!(metrics.unhealthy_watches().is_empty());
        metrics.watch_stopped("ApiToken");
        assert_eq!(metrics.unhealthy_watches(), vec!["ApiToken"]);
        metrics.watches_released();
        assert!(metrics.unhealthy_watches().is_empty());
    }

    #[test]
    fn reconciles_are_counted_by_kind_and_outcome_only() {
        let metrics = Metrics::new();
        metrics.reconciled("ApiToken", Duration::from_millis(5), None);
        metrics.reconciled("ApiToken", Duration::from_millis(5), Some("store"));
        let text = metrics.render();
        assert!(text.contains(
            "socialscalr_operator_reconciles_total{kind=\"ApiToken\",outcome=\"success\"} 1"
        ));
        assert!(text.contains(
            "socialscalr_operator_reconcile_errors_total{error=\"store\",kind=\"ApiToken\"} 1"
        ));
        assert!(text.contains("socialscalr_operator_reconcile_duration_seconds_bucket"));
    }
}
