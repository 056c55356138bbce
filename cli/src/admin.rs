//! Admin commands on the store, for bootstrapping an installation without Kubernetes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use socialscalr_core::config;
use socialscalr_core::plan::Plan;
use socialscalr_core::store::Store;
use socialscalr_core::token;

use crate::StoreArgs;

pub const DEFAULT_DATA_DIR: &str = ".socialscalr";

impl StoreArgs {
    pub fn database_url(&self) -> anyhow::Result<String> {
        Ok(config::database_url(
            self.data_dir.as_deref(),
            Path::new(DEFAULT_DATA_DIR),
        )?)
    }

    /// The data directory: the one given, or the default when no DATABASE_URL is set.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let url = self.database_url()?;
        socialscalr_core::store::open(&url)
            .await
            .context("opening the store")
    }
}

pub async fn migrate(store: &StoreArgs) -> anyhow::Result<()> {
    store.open().await?;
    println!("migrations applied");
    Ok(())
}

pub async fn create_workspace(
    store: &StoreArgs,
    name: &str,
    plan: Plan,
    as_json: bool,
) -> anyhow::Result<()> {
    let workspace = store.open().await?.create_workspace(name, plan).await?;
    if as_json {
        let out = json!({"id": workspace.id, "name": workspace.name, "plan": workspace.plan});
        println!("{out}");
    } else {
        println!(
            "created workspace {} ({}) on the {} plan",
            workspace.name, workspace.id, plan
        );
    }
    Ok(())
}

pub async fn create_token(
    store: &StoreArgs,
    workspace: &str,
    name: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let store = store.open().await?;
    let found = store.find_workspace(workspace).await?;
    let workspace =
        found.with_context(|| format!("no workspace named or with id `{workspace}`"))?;
    let issued = token::issue();
    let created = store.create_token(&workspace.id, name, &issued).await?;
    if as_json {
        let out = json!({
            "id": created.id,
            "token": issued.token,
            "workspace_id": workspace.id,
            "name": created.name,
        });
        println!("{out}");
    } else {
        println!(
            "token {} for workspace {} (shown once):",
            created.id, workspace.name
        );
        println!("{}", issued.token);
    }
    Ok(())
}
