//! `socialscalr-dispatcher`: the delivery role, for a Deployment.

use anyhow::Context;
use socialscalr_core::config::{self, ConfigError};
use socialscalr_core::process::{LogFormat, init_logging, shutdown_signal};
use socialscalr_core::target::TargetPolicy;
use socialscalr_dispatcher::{Dispatcher, DispatcherConfig};

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
    let store = socialscalr_core::store::open(&database_url)
        .await
        .context("opening the store")?;
    let config = DispatcherConfig::new(schedule, TargetPolicy { allow_loopback });
    Dispatcher::new(store, secrets, config)?
        .run(shutdown_signal())
        .await?;
    Ok(())
}
