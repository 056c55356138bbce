//! The metrics listener: `GET /metrics` in the Prometheus text format, `GET /healthz`
//! while the process runs, and `GET /readyz` while it can reach its store, for probes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use socialscalr_core::store::Store;
use tokio::net::TcpListener;

use crate::Metrics;

/// Answers whether the process can do its work; a probe asks it at `/readyz`.
pub type ReadyCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// How long `/readyz` waits for the store before answering that it is not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready while a trivial query of `store` answers in time.
pub fn store_ready(store: Arc<dyn Store>) -> ReadyCheck {
    Arc::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move {
            match tokio::time::timeout(READY_TIMEOUT, store.workspace_count()).await {
                Ok(Ok(_)) => true,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Readiness check failed");
                    false
                }
                Err(_) => {
                    tracing::warn!("Readiness check timed out");
                    false
                }
            }
        })
    })
}

#[derive(Clone)]
struct Shared {
    metrics: Metrics,
    ready: ReadyCheck,
}

/// Serves the listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    ready: ReadyCheck,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Shared { metrics, ready });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` and serves the listener there for the rest of the process's life.
pub async fn spawn_listener(
    addr: SocketAddr,
    metrics: Metrics,
    ready: ReadyCheck,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(listen = %bound, "Metrics listening");
    tokio::spawn(async move {
        if let Err(error) = serve(listener, metrics, ready, std::future::pending()).await {
            tracing::error!(%error, "The metrics listener stopped");
        }
    });
    Ok(bound)
}

async fn scrape(State(shared): State<Shared>) -> Response {
    let text = shared.metrics.encode();
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response()
}

async fn readyz(State(shared): State<Shared>) -> Response {
    if (shared.ready)().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn the_listener_serves_metrics_health_and_readiness() {
        let metrics = Metrics::new("api-server", 10);
        let up = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&up);
        let ready: ReadyCheck = Arc::new(move || {
            let up = flag.load(Ordering::SeqCst);
            Box::pin(async move { up })
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, metrics, ready, std::future::pending()));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();

        let scraped = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(scraped.status(), 200);
        let content_type = scraped.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert!(
            scraped
                .text()
                .await
                .unwrap()
                .contains("socialscalr_build_info")
        );

        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        up.store(false, Ordering::SeqCst);
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
    }
}
