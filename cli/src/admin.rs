//! Admin commands on the store, for bootstrapping an installation without Kubernetes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use socialscalr_core::config;
use socialscalr_core::model::{NewMember, Role};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::Store;
use socialscalr_core::tenancy::{self, MemberChange};
use socialscalr_core::time::rfc3339;
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

pub async fn set_plan(
    store: &StoreArgs,
    name_or_id: &str,
    plan: Plan,
    as_json: bool,
) -> anyhow::Result<()> {
    let change = tenancy::set_plan(store.open().await?.as_ref(), name_or_id, plan).await?;
    let workspace = &change.workspace;
    if as_json {
        let out = json!({
            "id": workspace.id,
            "name": workspace.name,
            "plan": workspace.plan,
            "previous_plan": change.previous_plan,
            "event_id": change.event_id,
        });
        println!("{out}");
    } else if change.event_id.is_some() {
        println!(
            "moved workspace {} ({}) from the {} plan to the {} plan",
            workspace.name, workspace.id, change.previous_plan, workspace.plan
        );
    } else {
        println!(
            "workspace {} is already on the {} plan; nothing changed",
            workspace.name, workspace.plan
        );
    }
    Ok(())
}

pub async fn cancel_workspace(
    store: &StoreArgs,
    name_or_id: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let cancellation = tenancy::cancel(store.open().await?.as_ref(), name_or_id).await?;
    let workspace = &cancellation.workspace;
    let cancelled_at = workspace.cancelled_at.map(rfc3339).unwrap_or_default();
    if as_json {
        let out = json!({
            "id": workspace.id,
            "name": workspace.name,
            "plan": workspace.plan,
            "cancelled_at": cancelled_at,
            "event_id": cancellation.event_id,
        });
        println!("{out}");
    } else if cancellation.event_id.is_some() {
        println!(
            "cancelled workspace {} ({}); its API tokens no longer work",
            workspace.name, workspace.id
        );
    } else {
        println!(
            "workspace {} was already cancelled at {cancelled_at}; nothing changed",
            workspace.name
        );
    }
    Ok(())
}

/// Prints a member change; `done` reads as "added … to" or "removed … from".
fn print_member_change(change: &MemberChange, as_json: bool, done: (&str, &str)) {
    if as_json {
        let out = json!({
            "workspace_id": change.workspace.id,
            "workspace": change.workspace.name,
            "email": change.member.email,
            "role": change.member.role,
            "event_id": change.event_id,
        });
        println!("{out}");
    } else {
        let (verb, preposition) = done;
        println!(
            "{verb} {} ({}) {preposition} workspace {}",
            change.member.email, change.member.role, change.workspace.name
        );
    }
}

pub async fn add_member(
    store: &StoreArgs,
    name_or_id: &str,
    email: &str,
    role: Role,
    as_json: bool,
) -> anyhow::Result<()> {
    let new = NewMember {
        email: email.to_owned(),
        role,
    };
    let change = tenancy::add_member(store.open().await?.as_ref(), name_or_id, &new).await?;
    print_member_change(&change, as_json, ("added", "to"));
    Ok(())
}

pub async fn remove_member(
    store: &StoreArgs,
    name_or_id: &str,
    email: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let change = tenancy::remove_member(store.open().await?.as_ref(), name_or_id, email).await?;
    print_member_change(&change, as_json, ("removed", "from"));
    Ok(())
}

pub async fn list_members(
    store: &StoreArgs,
    name_or_id: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let (workspace, members) = tenancy::members(store.open().await?.as_ref(), name_or_id).await?;
    if as_json {
        let out = json!({"workspace_id": workspace.id, "members": members});
        println!("{out}");
    } else if members.is_empty() {
        println!("workspace {} has no members", workspace.name);
    } else {
        for member in members {
            println!(
                "{}\t{}\t{}",
                member.email,
                member.role,
                rfc3339(member.added_at)
            );
        }
    }
    Ok(())
}
