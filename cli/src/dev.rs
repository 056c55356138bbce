//! `socialscalr dev`: the API, the dispatcher and the schedulers in one process on SQLite,
//! with loopback receivers allowed, for trying the platform out and for tests. Limits are
//! kept in memory unless `REDIS_URL` is set; metrics are served when `METRICS_ADDR` is.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use socialscalr_api_server::{AppState, DEFAULT_ROTATION_GRACE};
use socialscalr_core::config;
use socialscalr_core::model::{NewToken, Scope};
use socialscalr_core::plan::Plan;
use socialscalr_core::process::{LogFormat, init_logging, shutdown_signal};
use socialscalr_core::store::Store;
use socialscalr_core::target::TargetPolicy;
use socialscalr_core::token;
use socialscalr_dispatcher::{Dispatcher, DispatcherConfig, Scheduler, SchedulerConfig};
use socialscalr_metrics::{ApiMetrics, DeliveryMetrics, MetricsSettings};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::StoreArgs;

/// The dispatcher of the one dev process always has this id, so that a restart can take
/// back the claims its predecessor held when it stopped.
const DEV_WORKER: &str = "dev";
const DEFAULT_WORKSPACE: &str = "default";

pub async fn run(listen: Option<SocketAddr>, store_args: StoreArgs) -> anyhow::Result<()> {
    init_logging(LogFormat::from_env(LogFormat::Text)?);
    let listen = config::listen_addr(listen, "127.0.0.1:8080")?;
    let schedule = config::retry_schedule()?;
    let rotation_grace = config::duration(
        config::ROTATION_GRACE,
        DEFAULT_ROTATION_GRACE,
        std::time::Duration::ZERO,
    )?;
    let scheduler_config = SchedulerConfig::from_env()?;
    let outbound_window = config::outbound_window()?;
    let metrics_settings = MetricsSettings::from_env()?;
    // One limiter for the API's limits and the outbound caps: in memory, or Redis if set.
    let limiter = Arc::new(config::limiter()?);
    let secrets = config::secret_key_or_file(&store_args.data_dir())?;
    let store = store_args.open().await?;
    let target_policy = TargetPolicy {
        allow_loopback: true,
    };

    let released = store.release_claims(DEV_WORKER).await?;
    if released > 0 {
        tracing::info!(
            released,
            "Took back deliveries claimed before the last stop"
        );
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let bootstrap = bootstrap(store.as_ref()).await?;
    let metrics = metrics_settings.registry("dev", &limiter);
    let api_metrics = ApiMetrics::register(&metrics);
    let delivery_metrics = DeliveryMetrics::register(&metrics);
    metrics_settings
        .serve(metrics, &store)
        .await
        .context("binding METRICS_ADDR")?;

    println!("socialscalr dev: API on http://{listen}/api/v1");
    if let Some((workspace, token)) = bootstrap {
        println!();
        println!("Created workspace `{workspace}` on the pro plan. Its API token (shown once):");
        println!();
        println!("    {token}");
        println!();
        println!("Keep it; `socialscalr token create --workspace {workspace}` issues another");
        println!("(from a source checkout: `cargo run -- token create --workspace {workspace}`).");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let mut dispatch_config = DispatcherConfig::new(schedule, target_policy);
    dispatch_config.worker_id = DEV_WORKER.to_owned();
    dispatch_config.outbound_window = outbound_window;
    let dispatcher = Dispatcher::new(Arc::clone(&store), secrets.clone(), dispatch_config)?
        .with_limiter(Arc::clone(&limiter))
        .with_metrics(delivery_metrics);
    let dispatching = tokio::spawn(dispatcher.run(stopped()));
    let scheduler = Scheduler::new(Arc::clone(&store), scheduler_config);
    let scheduling = tokio::spawn(scheduler.run(stopped()));
    let mut state = AppState::new(store, secrets, target_policy);
    state.rotation_grace = rotation_grace;
    state.limiter = limiter;
    state.metrics = api_metrics;
    let serving = tokio::spawn(socialscalr_api_server::serve(listener, state, stopped()));

    shutdown_signal().await;
    tracing::info!("Stopping");
    let _ = stop_tx.send(true);
    serving
        .await
        .context("API task")?
        .context("serving the API")?;
    scheduling.await.context("scheduler task")?;
    dispatching.await.context("dispatcher task")??;
    println!("socialscalr dev: stopped");
    Ok(())
}

/// On the first start, creates the default workspace and its first token.
async fn bootstrap(store: &dyn Store) -> anyhow::Result<Option<(String, String)>> {
    if store.workspace_count().await? > 0 {
        return Ok(None);
    }
    let workspace = store.create_workspace(DEFAULT_WORKSPACE, Plan::Pro).await?;
    let issued = token::issue();
    let new = NewToken {
        scopes: vec![Scope::Admin],
        ..NewToken::named("dev")
    };
    store.create_token(&workspace.id, &new, &issued).await?;
    Ok(Some((workspace.name, issued.token)))
}
