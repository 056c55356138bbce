//! `socialscalr-dispatcher`: the delivery role and the schedulers, for a Deployment.

use std::sync::Arc;

use anyhow::Context;
use socialscalr_core::config::{self, ConfigError};
use socialscalr_core::process::{LogFormat, init_logging, shutdown_signal};
use socialscalr_core::target::TargetPolicy;
use socialscalr_dispatcher::{Dispatcher, DispatcherConfig, Scheduler, SchedulerConfig};
use socialscalr_metrics::{DeliveryMetrics, MetricsSettings};
use tokio::sync::watch;

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("socialscalr-dispatcher: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    init_logging(LogFormat::from_env(LogFormat::Json)?);
    let database_url = config::var(config::DATABASE_URL).ok_or(ConfigError::Missing {
        name: config::DATABASE_URL,
    })?;
    let secrets = config::secret_key()?;
    let schedule = config::retry_schedule()?;
    let allow_loopback = config::flag(config::ALLOW_LOOPBACK_TARGETS)?;
    let scheduler_config = SchedulerConfig::from_env()?;
    let limiter = Arc::new(config::limiter()?);
    let mut config = DispatcherConfig::from_env(schedule, TargetPolicy { allow_loopback })?;
    config.outbound_window = config::outbound_window()?;
    let metrics_settings = MetricsSettings::from_env()?;
    let store = socialscalr_core::store::open(&database_url)
        .await
        .context("opening the store")?;

    let metrics = metrics_settings.registry("dispatcher", &limiter);
    let delivery_metrics = DeliveryMetrics::register(&metrics);
    metrics_settings
        .serve(metrics, &store)
        .await
        .context("binding METRICS_ADDR")?;
    tracing::info!(outbound_caps = limiter.backend(), "Outbound caps");
    let dispatcher = Dispatcher::new(Arc::clone(&store), secrets, config)?
        .with_limiter(limiter)
        .with_metrics(delivery_metrics);

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let scheduling = tokio::spawn(Scheduler::new(store, scheduler_config).run(stopped()));
    let dispatching = tokio::spawn(dispatcher.run(stopped()));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    scheduling.await.context("scheduler task")?;
    dispatching.await.context("dispatcher task")??;
    Ok(())
}
