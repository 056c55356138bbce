//! The REST API under `/api/v1`: Bearer tokens, per-workspace rate limits, scopes, an
//! audit log, idempotent POSTs, JSON errors that name the field, cursor pagination, and
//! handlers that each validate, call one store operation and answer.

mod audit;
mod auth;
mod error;
mod extract;
mod gate;
mod idempotency;
mod openapi;
mod pagination;
mod request_log;
mod routes;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::ratelimit::Limiter;
use socialscalr_core::store::Store;
use socialscalr_core::target::TargetPolicy;
use socialscalr_metrics::{ApiMetrics, DEFAULT_MAX_WORKSPACES, Metrics};
use tokio::net::TcpListener;

pub use audit::AuditWriter;
pub use error::ApiError;
pub use extract::MAX_BODY_BYTES;
pub use routes::openapi;

/// How long a stop waits for open requests before closing their connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a rotated token keeps working unless the rotation says otherwise.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3_600);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub secrets: SecretBox,
    pub target_policy: TargetPolicy,
    /// Per-workspace request limits: in this process, or shared through Redis.
    pub limiter: Arc<Limiter>,
    pub audit: AuditWriter,
    pub rotation_grace: Duration,
    pub metrics: ApiMetrics,
}

impl AppState {
    /// State with in-process rate limits and metrics in a registry of its own; starts the
    /// audit writer on this runtime.
    pub fn new(store: Arc<dyn Store>, secrets: SecretBox, target_policy: TargetPolicy) -> Self {
        Self {
            audit: AuditWriter::spawn(Arc::clone(&store)),
            store,
            secrets,
            target_policy,
            limiter: Arc::new(Limiter::local()),
            rotation_grace: DEFAULT_ROTATION_GRACE,
            metrics: ApiMetrics::register(&Metrics::new("api-server", DEFAULT_MAX_WORKSPACES)),
        }
    }
}

pub fn router(state: AppState) -> Router {
    routes::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_log::log_request,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, lets open requests end, and
/// writes out the audit log.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let audit = state.audit.clone();
    let limiter = Arc::clone(&state.limiter);
    let pruning = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            limiter.prune();
        }
    });
    // A client that never finishes its request must not hold the process past the grace.
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };
    let serving = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown);
    let deadline = async move {
        let _ = stopped.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        served = serving.into_future() => served,
        () = deadline => {
            tracing::warn!("Connections still open after the shutdown grace period; closing them");
            Ok(())
        }
    };
    pruning.abort();
    audit.flush().await;
    served
}
