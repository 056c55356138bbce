//! The REST API under `/api/v1`: Bearer tokens, JSON errors that name the field, cursor
//! pagination, and handlers that each validate, call one store operation and answer.

mod auth;
mod error;
mod extract;
mod pagination;
mod request_log;
mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::store::Store;
use socialscalr_core::target::TargetPolicy;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use extract::MAX_BODY_BYTES;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub secrets: SecretBox,
    pub target_policy: TargetPolicy,
}

pub fn router(state: AppState) -> Router {
    routes::router()
        .layer(axum::middleware::from_fn(request_log::log_request))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then lets open requests end.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
