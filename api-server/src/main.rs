//! `socialscalr-api-server`: the REST API role, for a Deployment.

use std::sync::Arc;

use anyhow::Context;
use socialscalr_api_server::{AppState, DEFAULT_ROTATION_GRACE, serve};
use socialscalr_core::config::{self, ConfigError};
use socialscalr_core::process::{LogFormat, init_logging, shutdown_signal};
use socialscalr_core::target::TargetPolicy;
use socialscalr_metrics::{ApiMetrics, MetricsSettings};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("socialscalr-api-server: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    init_logging(LogFormat::from_env(LogFormat::Json)?);
    let database_url = config::var(config::DATABASE_URL).ok_or(ConfigError::Missing {
        name: config::DATABASE_URL,
    })?;
    let listen = config::listen_addr(None, "0.0.0.0:8080")?;
    let secrets = config::secret_key()?;
    let allow_loopback = config::flag(config::ALLOW_LOOPBACK_TARGETS)?;
    let rotation_grace = config::duration(
        config::ROTATION_GRACE,
        DEFAULT_ROTATION_GRACE,
        std::time::Duration::ZERO,
    )?;
    let limiter = Arc::new(config::limiter()?);
    let metrics_settings = MetricsSettings::from_env()?;
    let store = socialscalr_core::store::open(&database_url)
        .await
        .context("opening the store")?;

    let metrics = metrics_settings.registry("api-server", &limiter);
    let api_metrics = ApiMetrics::register(&metrics);
    metrics_settings
        .serve(metrics, &store)
        .await
        .context("binding METRICS_ADDR")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, rate_limits = limiter.backend(), "API server listening");
    let mut state = AppState::new(store, secrets, TargetPolicy { allow_loopback });
    state.rotation_grace = rotation_grace;
    state.limiter = limiter;
    state.metrics = api_metrics;
    serve(listener, state, shutdown_signal()).await?;
    Ok(())
}
