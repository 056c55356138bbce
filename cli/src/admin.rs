//! Admin commands on the store, for bootstrapping an installation without Kubernetes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use socialscalr_core::config;
use socialscalr_core::model::{ApiToken, LimitOverrides, NewMember, NewToken, Role, Workspace};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{PageRequest, Store};
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
    println!("schema is up to date");
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

async fn workspace_of(store: &dyn Store, name_or_id: &str) -> anyhow::Result<Workspace> {
    let found = store.find_workspace(name_or_id).await?;
    found.with_context(|| format!("no workspace named or with id `{name_or_id}`"))
}

pub async fn create_token(
    store: &StoreArgs,
    workspace: &str,
    new: &NewToken,
    as_json: bool,
) -> anyhow::Result<()> {
    let store = store.open().await?;
    let workspace = workspace_of(store.as_ref(), workspace).await?;
    let issued = token::issue();
    let created = store.create_token(&workspace.id, new, &issued).await?;
    print_issued(&created, &issued.token, &workspace.name, as_json);
    Ok(())
}

fn print_issued(created: &ApiToken, secret: &str, workspace: &str, as_json: bool) {
    if as_json {
        let mut out = serde_json::to_value(created).expect("tokens serialize");
        out["token"] = json!(secret);
        println!("{out}");
    } else {
        println!(
            "token {} for workspace {workspace} (shown once):",
            created.id
        );
        println!("{secret}");
    }
}

pub async fn list_tokens(store: &StoreArgs, workspace: &str, as_json: bool) -> anyhow::Result<()> {
    let store = store.open().await?;
    let workspace = workspace_of(store.as_ref(), workspace).await?;
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    let mut tokens = Vec::new();
    loop {
        let found = store.list_tokens(&workspace.id, &page).await?;
        tokens.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    if as_json {
        println!("{}", serde_json::to_string(&tokens)?);
        return Ok(());
    }
    for token in tokens {
        let state = match (token.revoked_at, token.expires_at) {
            (Some(_), _) => "revoked".to_owned(),
            (None, Some(at)) => format!("expires {}", socialscalr_core::time::rfc3339(at)),
            (None, None) => "active".to_owned(),
        };
        let scopes: Vec<String> = token.scopes.iter().map(ToString::to_string).collect();
        println!(
            "{}  {}  {}  {}  [{}]",
            token.id,
            token.prefix,
            token.name,
            state,
            scopes.join(" ")
        );
    }
    Ok(())
}

pub async fn rotate_token(
    store: &StoreArgs,
    workspace: &str,
    id: &str,
    grace: Option<Duration>,
    as_json: bool,
) -> anyhow::Result<()> {
    let default_grace = config::duration(
        config::ROTATION_GRACE,
        socialscalr_api_server::DEFAULT_ROTATION_GRACE,
        std::time::Duration::ZERO,
    )?;
    let grace = chrono::Duration::from_std(grace.unwrap_or(default_grace))
        .context("the grace period is too long")?;
    let store = store.open().await?;
    let workspace = workspace_of(store.as_ref(), workspace).await?;
    let issued = token::issue();
    let grace_until = socialscalr_core::time::now() + grace;
    let successor = store
        .rotate_token(&workspace.id, id, &issued, grace_until)
        .await?;
    print_issued(&successor, &issued.token, &workspace.name, as_json);
    Ok(())
}

pub async fn revoke_token(store: &StoreArgs, workspace: &str, id: &str) -> anyhow::Result<()> {
    let store = store.open().await?;
    let workspace = workspace_of(store.as_ref(), workspace).await?;
    if !store.revoke_token(&workspace.id, id).await? {
        anyhow::bail!("no active token `{id}` in workspace {}", workspace.name);
    }
    println!("revoked {id}");
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

/// A limit as given on the command line: a figure, or the plan's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    PerMinute(u32),
    Plan,
}

pub fn parse_limit(text: &str) -> Result<Limit, String> {
    if text == "plan" {
        return Ok(Limit::Plan);
    }
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Limit::PerMinute(n)),
        _ => Err("expected a whole number above 0, or `plan`".to_owned()),
    }
}

/// The limits to change; one not given keeps its current value.
pub struct LimitChange {
    pub requests_per_minute: Option<Limit>,
    pub webhook_events_per_minute: Option<Limit>,
}

pub async fn set_limits(
    store: &StoreArgs,
    name_or_id: &str,
    change: LimitChange,
    as_json: bool,
) -> anyhow::Result<()> {
    let store = store.open().await?;
    let workspace = workspace_of(store.as_ref(), name_or_id).await?;
    let apply = |current: Option<u32>, given: Option<Limit>| match given {
        None => current,
        Some(Limit::Plan) => None,
        Some(Limit::PerMinute(n)) => Some(n),
    };
    let limits = LimitOverrides {
        requests_per_minute: apply(
            workspace.limits.requests_per_minute,
            change.requests_per_minute,
        ),
        webhook_events_per_minute: apply(
            workspace.limits.webhook_events_per_minute,
            change.webhook_events_per_minute,
        ),
    };
    let workspace = store.set_limits(&workspace.id, limits).await?;
    let figure = |n: Option<u32>| n.map_or_else(|| "none".to_owned(), |n| n.to_string());
    if as_json {
        let out = json!({
            "id": workspace.id,
            "name": workspace.name,
            "plan": workspace.plan,
            "requests_per_minute": workspace.requests_per_minute(),
            "webhook_events_per_minute": workspace.webhook_events_per_minute(),
        });
        println!("{out}");
    } else {
        println!(
            "workspace {} now allows {} requests and {} webhook events per minute",
            workspace.name,
            figure(workspace.requests_per_minute()),
            figure(workspace.webhook_events_per_minute()),
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
