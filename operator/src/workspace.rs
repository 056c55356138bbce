//! Workspace resources become the store's workspace row (plan, seats, limits, members),
//! a ConfigMap with the effective rate limits, and for agency an admin override token.
//! Plan changes, cancellation and member changes go through the core tenancy functions,
//! which write their subscription and team events with them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};
use socialscalr_core::model::{self, DEFAULT_AGENCY_SEATS, NewMember, Role, Scope};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{StoreError, WorkspaceSettings};
use socialscalr_core::tenancy;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::owned::{FINALIZER, is_owned_by, namespace, owned_meta, owner_reference, uid};
use crate::resources::{EffectiveLimits, MemberRole, Workspace, WorkspaceStatus};
use crate::{status, tokens};

pub const KIND: &str = "Workspace";

pub fn config_map_name(workspace: &str) -> String {
    format!("{workspace}-rate-limits")
}

pub fn admin_secret_name(workspace: &str) -> String {
    format!("{workspace}-admin-token")
}

pub async fn reconcile(object: Arc<Workspace>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<Workspace> = Api::namespaced(ctx.client.clone(), &namespace(&*object)?);
    finalizer(&api, FINALIZER, object, |event| async {
        match event {
            Event::Apply(object) => apply(&object, &ctx, &api).await,
            Event::Cleanup(object) => cleanup(&object, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn settings_of(object: &Workspace) -> WorkspaceSettings {
    let spec = &object.spec;
    let default_seats = (spec.plan == Plan::Agency).then_some(DEFAULT_AGENCY_SEATS);
    WorkspaceSettings {
        seats: spec.seats.or(default_seats),
        limits: model::LimitOverrides {
            requests_per_minute: spec.limits.and_then(|l| l.requests_per_minute),
            webhook_events_per_minute: spec.limits.and_then(|l| l.webhook_events_per_minute),
        },
        suspended: spec.suspended,
    }
}

fn role_of(role: Option<MemberRole>) -> Role {
    match role {
        Some(MemberRole::Owner) => Role::Owner,
        Some(MemberRole::Admin) => Role::Admin,
        Some(MemberRole::Member) | None => Role::Member,
    }
}

async fn apply(object: &Workspace, ctx: &Context, api: &Api<Workspace>) -> Result<Action> {
    let name = object.name_any();
    let namespace = namespace(object)?;
    let reference = object.object_ref(&());
    let generation = object.metadata.generation;
    let current = object.status.as_ref();
    let previous_conditions = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    let settings = settings_of(object);
    let store = ctx.store.as_ref();

    // The row: found by the resource's uid, created with its subscription.created.
    let existing = store.managed_workspace(&uid(object)?).await?;
    let workspace = match existing {
        Some(workspace) => workspace,
        None => {
            let created = store
                .create_managed_workspace(&uid(object)?, &name, object.spec.plan, &settings)
                .await;
            match created {
                Ok(workspace) => {
                    tracing::info!(
                        workspace = %workspace.id,
                        plan = %workspace.plan,
                        "Workspace created"
                    );
                    let note = format!(
                        "Created workspace {} on the {} plan",
                        workspace.id, workspace.plan
                    );
                    ctx.event(&reference, EventType::Normal, "Created", note)
                        .await;
                    workspace
                }
                Err(StoreError::Conflict(message)) => {
                    return status::not_ready(
                        api,
                        object,
                        ctx,
                        "NameTaken",
                        message,
                        ctx.settings.resync,
                    )
                    .await;
                }
                Err(StoreError::Invalid(error)) => {
                    return status::not_ready(
                        api,
                        object,
                        ctx,
                        "Invalid",
                        error.to_string(),
                        ctx.settings.resync,
                    )
                    .await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    if workspace.cancelled_at.is_some() {
        let message = format!("workspace {} is cancelled in the store", workspace.id);
        return status::not_ready(api, object, ctx, "Cancelled", message, ctx.settings.resync)
            .await;
    }

    // The plan first, so that seats are checked against the plan they belong to.
    if workspace.plan != object.spec.plan {
        let change = tenancy::set_plan(store, &workspace.id, object.spec.plan).await?;
        let note = format!(
            "Plan changed from {} to {}",
            change.previous_plan, object.spec.plan
        );
        tracing::info!(
            workspace = %workspace.id,
            from = %change.previous_plan,
            to = %object.spec.plan,
            "Plan changed"
        );
        ctx.event(&reference, EventType::Normal, "PlanChanged", note)
            .await;
    }
    let in_store = WorkspaceSettings {
        seats: workspace.seats,
        limits: workspace.limits,
        suspended: workspace.suspended,
    };
    let workspace = if in_store != settings {
        let updated = store
            .update_workspace_settings(&workspace.id, &settings)
            .await?;
        let note = format!(
            "Settings now: seats {:?}, limits {:?}, suspended {}",
            settings.seats, settings.limits, settings.suspended
        );
        ctx.event(&reference, EventType::Normal, "SettingsChanged", note)
            .await;
        updated
    } else {
        workspace
    };

    sync_members(object, ctx, &workspace.id).await?;

    let limits = EffectiveLimits {
        requests_per_minute: workspace.requests_per_minute(),
        webhook_events_per_minute: workspace
            .limits
            .webhook_events_per_minute
            .or(workspace.plan.webhook_events_per_minute()),
    };
    ensure_config_map(ctx, object, &namespace, &workspace.plan, &limits).await?;

    // Only agency workspaces have an admin override token; leaving agency revokes it.
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let secret_name = admin_secret_name(&name);
    let admin_token_secret = if workspace.plan == Plan::Agency {
        let wanted = tokens::Wanted {
            workspace_id: &workspace.id,
            name: "admin-override".to_owned(),
            scopes: vec![Scope::Admin],
            seat: None,
            expires_at: None,
            generation: 0,
            owner: format!("Workspace {namespace}/{name}"),
        };
        let owner = owner_reference(object)?;
        match tokens::ensure(ctx, &secrets, &secret_name, &namespace, &owner, &wanted).await? {
            tokens::Outcome::Ready { token, issued } => {
                if issued {
                    tokens::announce(ctx, &reference, &token, &secret_name).await;
                }
                Some(secret_name)
            }
            tokens::Outcome::Refused(refused) => {
                return status::not_ready(
                    api,
                    object,
                    ctx,
                    "AdminTokenRefused",
                    refused.0,
                    ctx.settings.resync,
                )
                .await;
            }
        }
    } else {
        if tokens::revoke_kept(ctx, &secrets, &secret_name).await? > 0 {
            let note = "Revoked the admin override token: the plan is no longer agency";
            ctx.event(
                &reference,
                EventType::Normal,
                "AdminTokenRevoked",
                note.to_owned(),
            )
            .await;
        }
        if secrets.get_opt(&secret_name).await?.is_some() {
            secrets
                .delete(&secret_name, &DeleteParams::default())
                .await?;
        }
        None
    };

    let message = format!("workspace {} on the {} plan", workspace.id, workspace.plan);
    let suspended = if workspace.suspended {
        " (suspended)"
    } else {
        ""
    };
    let new_status = WorkspaceStatus {
        workspace_id: Some(workspace.id.clone()),
        effective_limits: Some(limits),
        admin_token_secret,
        observed_generation: generation,
        conditions: status::ready(
            previous_conditions,
            generation,
            true,
            "Reconciled",
            format!("{message}{suspended}"),
        ),
    };
    status::write(api, object, current, &new_status).await?;
    Ok(Action::requeue(ctx.settings.resync))
}

/// Adds and removes members until the store's match the resource's; a changed role is a
/// removal and an addition, each with its event.
async fn sync_members(object: &Workspace, ctx: &Context, workspace_id: &str) -> Result<()> {
    let store = ctx.store.as_ref();
    let reference = object.object_ref(&());
    let wanted: BTreeMap<String, Role> = object
        .spec
        .members
        .iter()
        .map(|m| (m.email.to_lowercase(), role_of(m.role)))
        .collect();
    let present = store.list_members(workspace_id).await?;
    for member in &present {
        if wanted.get(&member.email) != Some(&member.role) {
            tenancy::remove_member(store, workspace_id, &member.email).await?;
            let note = format!("Removed member {}", member.email);
            ctx.event(&reference, EventType::Normal, "MemberRemoved", note)
                .await;
        }
    }
    for (email, role) in &wanted {
        let kept = present.iter().any(|m| &m.email == email && &m.role == role);
        if kept {
            continue;
        }
        let new = NewMember {
            email: email.clone(),
            role: *role,
        };
        tenancy::add_member(store, workspace_id, &new).await?;
        let note = format!("Added member {email} as {role}");
        ctx.event(&reference, EventType::Normal, "MemberAdded", note)
            .await;
    }
    Ok(())
}

async fn ensure_config_map(
    ctx: &Context,
    object: &Workspace,
    namespace: &str,
    plan: &Plan,
    limits: &EffectiveLimits,
) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let name = config_map_name(&object.name_any());
    let owner = owner_reference(object)?;
    let text = |value: Option<u32>| value.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let data = BTreeMap::from([
        ("plan".to_owned(), plan.as_str().to_owned()),
        (
            "requestsPerMinute".to_owned(),
            text(limits.requests_per_minute),
        ),
        (
            "webhookEventsPerMinute".to_owned(),
            text(limits.webhook_events_per_minute),
        ),
        ("suspended".to_owned(), object.spec.suspended.to_string()),
    ]);
    let mut wanted = ConfigMap {
        metadata: owned_meta(&name, namespace, owner.clone(), BTreeMap::new()),
        data: Some(data),
        ..ConfigMap::default()
    };
    match api.get_opt(&name).await? {
        None => {
            api.create(&PostParams::default(), &wanted).await?;
        }
        Some(existing)
            if existing.data != wanted.data || !is_owned_by(&existing.metadata, &owner) =>
        {
            wanted.metadata.resource_version = existing.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &wanted).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// A deleted Workspace is cancelled in the store (with its `subscription.cancelled`),
/// which stops every token of the workspace; its admin token is revoked as well.
async fn cleanup(object: &Workspace, ctx: &Context) -> Result<Action> {
    let store = ctx.store.as_ref();
    if let Some(workspace) = store.managed_workspace(&uid(object)?).await? {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace(object)?);
        tokens::revoke_kept(ctx, &secrets, &admin_secret_name(&object.name_any())).await?;
        if workspace.cancelled_at.is_none() {
            tenancy::cancel(store, &workspace.id).await?;
            tracing::info!(workspace = %workspace.id, "Workspace cancelled");
            let note = format!("Cancelled workspace {}", workspace.id);
            ctx.event(
                &object.object_ref(&()),
                EventType::Normal,
                "Cancelled",
                note,
            )
            .await;
        }
    }
    Ok(Action::await_change())
}

/// What a reference to a Workspace resource resolves to.
pub enum Lookup {
    Found(model::Workspace),
    /// Not usable now, with the condition's reason and message; retried later.
    Unusable {
        reason: &'static str,
        message: String,
    },
}

/// The store's workspace of the Workspace resource `name` in `namespace`.
pub async fn lookup(ctx: &Context, namespace: &str, name: &str) -> Result<Lookup> {
    let api: Api<Workspace> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(object) = api.get_opt(name).await? else {
        return Ok(Lookup::Unusable {
            reason: "WorkspaceNotFound",
            message: format!("no Workspace named {name} in namespace {namespace}"),
        });
    };
    if object.metadata.deletion_timestamp.is_some() {
        return Ok(Lookup::Unusable {
            reason: "WorkspaceDeleted",
            message: format!("Workspace {name} is being deleted"),
        });
    }
    match ctx.store.managed_workspace(&uid(&object)?).await? {
        Some(workspace) if workspace.cancelled_at.is_some() => Ok(Lookup::Unusable {
            reason: "WorkspaceCancelled",
            message: format!("workspace {} is cancelled", workspace.id),
        }),
        Some(workspace) => Ok(Lookup::Found(workspace)),
        None => Ok(Lookup::Unusable {
            reason: "WorkspaceNotReady",
            message: format!("Workspace {name} is not in the store yet"),
        }),
    }
}
