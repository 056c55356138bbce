//! `socialscalr-operator`: the controllers of the tenancy custom resources, for a
//! Deployment of one or more replicas (one leads), and `crds`, which writes their CRDs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kube::runtime::events::{Recorder, Reporter};
use socialscalr_core::config::{self, ConfigError};
use socialscalr_core::process::{LogFormat, init_logging, shutdown_signal};
use socialscalr_core::target::TargetPolicy;
use socialscalr_operator::context::{Context, Settings};
use socialscalr_operator::metrics::Metrics;
use socialscalr_operator::resources::crd_files;
use socialscalr_operator::run::{self, Config};

#[derive(Parser)]
#[command(name = "socialscalr-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The kubeconfig to use; in a Pod, its service account is used when none is given.
    #[arg(long, env = "KUBECONFIG", global = true)]
    kubeconfig: Option<PathBuf>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9464")]
    metrics_addr: SocketAddr,
    /// Watch only this namespace; every namespace when absent.
    #[arg(long, env = "WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// The namespace of the leader Lease: the operator's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    #[arg(
        long,
        env = "SOCIALSCALR_OPERATOR_LEASE",
        default_value = "socialscalr-operator"
    )]
    lease_name: String,
    /// This replica's name in the Lease; the Pod's name in a Deployment.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long the lease holds without renewal: how soon a standby takes over a dead
    /// leader.
    #[arg(long, env = "SOCIALSCALR_OPERATOR_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers (the default).
    Run,
    /// Write the CRD YAML files into a directory, or print them all when none is given.
    Crds {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() {
    if let Err(error) = start().await {
        eprintln!("socialscalr-operator: {error:#}");
        std::process::exit(1);
    }
}

async fn start() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Crds { out }) => write_crds(out.as_deref()),
        Some(Command::Run) | None => operate(cli).await,
    }
}

fn write_crds(out: Option<&std::path::Path>) -> anyhow::Result<()> {
    for (file, yaml) in crd_files() {
        match out {
            Some(dir) => {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}

async fn operate(cli: Cli) -> anyhow::Result<()> {
    init_logging(LogFormat::from_env(LogFormat::Json)?);
    let database_url = config::var(config::DATABASE_URL).ok_or(ConfigError::Missing {
        name: config::DATABASE_URL,
    })?;
    let secrets = config::secret_key()?;
    let allow_loopback = config::flag(config::ALLOW_LOOPBACK_TARGETS)?;
    let settings = Settings {
        token_grace: config::duration(
            config::ROTATION_GRACE,
            Settings::default().token_grace,
            Duration::from_secs(1),
        )?,
        health_interval: config::duration(
            "SOCIALSCALR_OPERATOR_HEALTH_INTERVAL",
            Settings::default().health_interval,
            Duration::from_secs(1),
        )?,
        resync: config::duration(
            "SOCIALSCALR_OPERATOR_RESYNC",
            Settings::default().resync,
            Duration::from_secs(5),
        )?,
    };
    anyhow::ensure!(cli.lease_seconds >= 3, "--lease-seconds must be at least 3");

    let client = kube_client(cli.kubeconfig.as_deref()).await?;
    let store = socialscalr_core::store::open(&database_url)
        .await
        .context("opening the store")?;
    let identity = cli.identity.clone().unwrap_or_else(default_identity);
    let reporter = Reporter {
        controller: "socialscalr-operator".to_owned(),
        instance: Some(identity.clone()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let ctx = Context::new(
        client,
        store,
        secrets,
        TargetPolicy { allow_loopback },
        recorder,
        Metrics::new(),
        settings,
    );
    let config = Config {
        metrics_addr: cli.metrics_addr,
        namespace: cli.watch_namespace,
        lease_namespace: cli.lease_namespace,
        lease_name: cli.lease_name,
        identity,
        lease_seconds: cli.lease_seconds,
    };
    run::run(config, ctx, shutdown_signal()).await?;
    Ok(())
}

/// The client of the kubeconfig given, else of the Pod's service account or the usual
/// kubeconfig.
async fn kube_client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "operator".to_owned());
    format!("{host}-{}", std::process::id())
}
