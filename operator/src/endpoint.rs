//! WebhookEndpoint resources become a Secret with the signing secret and the store's
//! endpoint row. The endpoint's id is chosen once and kept on the Secret, so that restarts
//! and lost statuses find the same row. Its delivery health is read from the delivery log
//! at every health interval and shown in the status.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};
use socialscalr_core::ids;
use socialscalr_core::model::{AttemptOutcome, DeliveryAttempt, NewWebhookEndpoint};
use socialscalr_core::signing::{self, generate_secret};
use socialscalr_core::store::{ATTEMPT_LOG_LENGTH, EndpointUpdate, NewEndpointRow, PageRequest};
use socialscalr_core::time::rfc3339;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::owned::{
    FINALIZER, annotation, create_secret, namespace, owned_meta, owner_reference, secret_data,
    secret_value,
};
use crate::resources::{DeliveryHealth, WebhookEndpoint, WebhookEndpointStatus};
use crate::status;
use crate::workspace::{self, Lookup};

pub const KIND: &str = "WebhookEndpoint";
/// The key of the signing secret, in the operator's Secret and in a referenced one.
pub const SECRET_KEY: &str = "secret";
const ENDPOINT_ID: &str = "socialscalr.com/endpoint-id";
const WORKSPACE_ID: &str = "socialscalr.com/workspace-id";
/// A keyed digest of the secret the store holds, so a changed secret is noticed without
/// opening the sealed one; it reveals nothing of the secret.
const STORED_DIGEST: &str = "socialscalr.com/stored-secret-digest";

const WAIT_FOR_WORKSPACE: std::time::Duration = std::time::Duration::from_secs(30);

pub fn secret_name(endpoint: &str) -> String {
    format!("{endpoint}-webhook-secret")
}

fn digest(secret: &str) -> String {
    signing::body_signature(secret, b"socialscalr-stored-secret")
}

pub async fn reconcile(object: Arc<WebhookEndpoint>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<WebhookEndpoint> = Api::namespaced(ctx.client.clone(), &namespace(&*object)?);
    finalizer(&api, FINALIZER, object, |event| async {
        match event {
            Event::Apply(object) => apply(&object, &ctx, &api).await,
            Event::Cleanup(object) => cleanup(&object, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// The operator's Secret for the endpoint: its signing secret, its endpoint id, and the
/// digest of the secret last written to the store.
struct Kept {
    secret: Secret,
    signing_secret: String,
    endpoint_id: String,
}

async fn apply(
    object: &WebhookEndpoint,
    ctx: &Context,
    api: &Api<WebhookEndpoint>,
) -> Result<Action> {
    let namespace = namespace(object)?;
    let spec = &object.spec;
    let retry = WAIT_FOR_WORKSPACE;

    let workspace = match workspace::lookup(ctx, &namespace, &spec.workspace_ref).await? {
        Lookup::Found(workspace) => workspace,
        Lookup::Unusable { reason, message } => {
            return status::not_ready(api, object, ctx, reason, message, retry).await;
        }
    };

    // The same checks as `POST /webhooks`, the target policy included.
    let new = NewWebhookEndpoint {
        url: spec.url.clone(),
        events: spec.events.clone(),
        description: None,
        format: spec.format,
    };
    if let Err(error) = new.validate(&ctx.target_policy) {
        let resync = ctx.settings.resync;
        return status::not_ready(api, object, ctx, "Invalid", error.to_string(), resync).await;
    }

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let own_secret = match &spec.secret_ref {
        Some(name) => match secrets.get_opt(name).await? {
            Some(secret) => match secret_value(&secret, SECRET_KEY) {
                Some(value) if !value.trim().is_empty() => Some(value),
                _ => {
                    let message = format!("Secret {name} has no `{SECRET_KEY}` key");
                    return status::not_ready(api, object, ctx, "SecretInvalid", message, retry)
                        .await;
                }
            },
            None => {
                let message = format!("no Secret named {name} in namespace {namespace}");
                return status::not_ready(api, object, ctx, "SecretNotFound", message, retry).await;
            }
        },
        None => None,
    };
    let Some(kept) = keep_secret(object, &secrets, &workspace.id, own_secret).await? else {
        // Another reconcile created the Secret a moment ago; read it on the next round.
        return Ok(Action::requeue(std::time::Duration::from_secs(1)));
    };

    let endpoint = ensure_row(ctx, object, &secrets, &workspace.id, &kept, &new).await?;
    let owner = format!("WebhookEndpoint {namespace}/{}", object.name_any());
    if endpoint.managed_by.as_deref() != Some(owner.as_str()) {
        ctx.store
            .set_endpoint_owner(&workspace.id, &endpoint.id, &owner)
            .await?;
    }

    let attempts = ctx
        .store
        .list_attempts(
            &workspace.id,
            &endpoint.id,
            &PageRequest {
                limit: ATTEMPT_LOG_LENGTH,
                after: None,
            },
        )
        .await?;
    let mut health = health_of(&attempts.items);
    health.disabled_reason = endpoint.disabled_reason.clone();

    let (ready, reason, message) = match (&endpoint.disabled_reason, endpoint.disabled) {
        (Some(why), true) => (
            false,
            "EndpointDisabled",
            format!(
                "endpoint {} was disabled by a delivery ({why})",
                endpoint.id
            ),
        ),
        (None, true) => (
            true,
            "Disabled",
            format!("endpoint {} is disabled", endpoint.id),
        ),
        _ => (
            true,
            "Active",
            format!("endpoint {} receives deliveries", endpoint.id),
        ),
    };
    let current = object.status.as_ref();
    let previous = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    let generation = object.metadata.generation;
    let new_status = WebhookEndpointStatus {
        endpoint_id: Some(endpoint.id.clone()),
        secret_name: kept.secret.metadata.name.clone(),
        health: Some(health),
        observed_generation: generation,
        conditions: status::ready(previous, generation, ready, reason, message),
    };
    if status::write(api, object, current, &new_status).await? {
        tracing::debug!(endpoint = %endpoint.id, "Endpoint status written");
    }
    Ok(Action::requeue(ctx.settings.health_interval))
}

/// Reads the operator's Secret, creating it on first use with the user's secret or a
/// generated one and a new endpoint id. `None` when another reconcile created it first.
async fn keep_secret(
    object: &WebhookEndpoint,
    secrets: &Api<Secret>,
    workspace_id: &str,
    own_secret: Option<String>,
) -> Result<Option<Kept>> {
    let name = secret_name(&object.name_any());
    let namespace = namespace(object)?;
    let owner = owner_reference(object)?;
    let existing = secrets.get_opt(&name).await?;
    let found = existing.as_ref().and_then(|secret| {
        Some((
            secret_value(secret, SECRET_KEY)?,
            annotation(secret, ENDPOINT_ID)?,
        ))
    });
    match (existing, found) {
        (Some(secret), Some((signing_secret, endpoint_id))) => {
            // A referenced secret of the user's own is copied in when it changes.
            match own_secret.filter(|own| *own != signing_secret) {
                Some(own) => {
                    let mut replaced = secret.clone();
                    replaced.data = Some(secret_data(&[(SECRET_KEY, &own)]));
                    let replaced = secrets
                        .replace(&name, &PostParams::default(), &replaced)
                        .await?;
                    Ok(Some(Kept {
                        secret: replaced,
                        signing_secret: own,
                        endpoint_id,
                    }))
                }
                None => Ok(Some(Kept {
                    secret,
                    signing_secret,
                    endpoint_id,
                })),
            }
        }
        (existing, _) => {
            let signing_secret = own_secret.unwrap_or_else(generate_secret);
            let endpoint_id = ids::new_id(ids::ENDPOINT);
            let annotations = BTreeMap::from([
                (ENDPOINT_ID.to_owned(), endpoint_id.clone()),
                (WORKSPACE_ID.to_owned(), workspace_id.to_owned()),
            ]);
            let mut secret = Secret {
                metadata: owned_meta(&name, &namespace, owner, annotations),
                type_: Some("Opaque".to_owned()),
                data: Some(secret_data(&[(SECRET_KEY, &signing_secret)])),
                ..Secret::default()
            };
            let written = match existing {
                Some(existing) => {
                    secret.metadata.resource_version = existing.metadata.resource_version;
                    Some(
                        secrets
                            .replace(&name, &PostParams::default(), &secret)
                            .await?,
                    )
                }
                None => create_secret(secrets, &secret).await?,
            };
            Ok(written.map(|secret| Kept {
                secret,
                signing_secret,
                endpoint_id,
            }))
        }
    }
}

/// Creates or changes the store's row to match the resource; writes nothing when it does.
async fn ensure_row(
    ctx: &Context,
    object: &WebhookEndpoint,
    secrets: &Api<Secret>,
    workspace_id: &str,
    kept: &Kept,
    new: &NewWebhookEndpoint,
) -> Result<socialscalr_core::model::WebhookEndpoint> {
    let store = ctx.store.as_ref();
    let reference = object.object_ref(&());
    let digest = digest(&kept.signing_secret);
    let stored_digest = annotation(&kept.secret, STORED_DIGEST);
    let events = new.event_set();
    let format = new.resolved_format();

    let existing = store.get_endpoint(workspace_id, &kept.endpoint_id).await?;
    let endpoint = match existing {
        None => {
            let row = NewEndpointRow {
                id: kept.endpoint_id.clone(),
                url: new.url.clone(),
                description: Some(format!("WebhookEndpoint {}", object.name_any())),
                events: events.clone(),
                format,
                sealed_secret: ctx.secrets.seal(&kept.endpoint_id, &kept.signing_secret),
            };
            let mut endpoint = store.create_endpoint(workspace_id, &row).await?;
            if object.spec.disabled {
                endpoint = store
                    .update_endpoint(
                        workspace_id,
                        &endpoint.id,
                        &update(new, &events, Some(true), None),
                    )
                    .await?;
            }
            tracing::info!(
                endpoint = %endpoint.id,
                workspace = workspace_id,
                "Webhook endpoint created"
            );
            let note = format!("Created endpoint {} for {}", endpoint.id, endpoint.url);
            ctx.event(&reference, EventType::Normal, "Created", note)
                .await;
            endpoint
        }
        Some(endpoint) => {
            // `disabled` follows the spec when the spec changed, so that a 410's decision
            // stands until someone edits the resource.
            let spec_changed = object.status.as_ref().and_then(|s| s.observed_generation)
                != object.metadata.generation;
            let disabled = (spec_changed && endpoint.disabled != object.spec.disabled)
                .then_some(object.spec.disabled);
            let new_secret = (stored_digest.as_deref() != Some(digest.as_str()))
                .then(|| ctx.secrets.seal(&endpoint.id, &kept.signing_secret));
            let differs = endpoint.url != new.url
                || endpoint.events != events
                || endpoint.format != format
                || disabled.is_some()
                || new_secret.is_some();
            if differs {
                let changed = store
                    .update_endpoint(
                        workspace_id,
                        &endpoint.id,
                        &update(new, &events, disabled, new_secret),
                    )
                    .await?;
                tracing::info!(endpoint = %changed.id, "Webhook endpoint changed");
                let note = format!("Updated endpoint {}", changed.id);
                ctx.event(&reference, EventType::Normal, "Updated", note)
                    .await;
                changed
            } else {
                endpoint
            }
        }
    };

    if stored_digest.as_deref() != Some(digest.as_str()) {
        let mut secret = kept.secret.clone();
        secret
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(STORED_DIGEST.to_owned(), digest);
        let name = object.name_any();
        secrets
            .replace(&secret_name(&name), &PostParams::default(), &secret)
            .await?;
    }
    Ok(endpoint)
}

fn update(
    new: &NewWebhookEndpoint,
    events: &[socialscalr_core::event::EventType],
    disabled: Option<bool>,
    sealed_secret: Option<String>,
) -> EndpointUpdate {
    EndpointUpdate {
        url: new.url.clone(),
        events: events.to_vec(),
        format: new.resolved_format(),
        disabled,
        sealed_secret,
    }
}

/// Health from the delivery log, newest attempt first. A chat service's 429 is pacing,
/// not a failure of the endpoint.
pub fn health_of(attempts: &[DeliveryAttempt]) -> DeliveryHealth {
    let counted = || {
        attempts
            .iter()
            .filter(|a| a.outcome != AttemptOutcome::RateLimited)
    };
    DeliveryHealth {
        last_success_at: counted()
            .find(|a| a.succeeded)
            .map(|a| rfc3339(a.attempted_at)),
        last_attempt_at: counted().next().map(|a| rfc3339(a.attempted_at)),
        consecutive_failures: counted()
            .take_while(|a| !a.succeeded)
            .count()
            .try_into()
            .unwrap_or(u32::MAX),
        disabled_reason: None,
    }
}

/// Deletes the store's row, which cancels its queued deliveries.
async fn cleanup(object: &WebhookEndpoint, ctx: &Context) -> Result<Action> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace(object)?);
    let Some(secret) = secrets.get_opt(&secret_name(&object.name_any())).await? else {
        return Ok(Action::await_change());
    };
    if let (Some(workspace_id), Some(endpoint_id)) = (
        annotation(&secret, WORKSPACE_ID),
        annotation(&secret, ENDPOINT_ID),
    ) && ctx
        .store
        .delete_endpoint(&workspace_id, &endpoint_id)
        .await?
    {
        tracing::info!(endpoint = %endpoint_id, "Webhook endpoint deleted");
        let note = format!("Deleted endpoint {endpoint_id}");
        ctx.event(&object.object_ref(&()), EventType::Normal, "Deleted", note)
            .await;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use socialscalr_core::event::EventType as Event;
    use socialscalr_core::time;

    use super::*;

    fn attempt(seconds_ago: i64, succeeded: bool, outcome: AttemptOutcome) -> DeliveryAttempt {
        DeliveryAttempt {
            delivery_id: "dlv_1".into(),
            event: Event::LeadReplied,
            event_id: "evt_1".into(),
            attempt: 1,
            attempted_at: time::now() - chrono::Duration::seconds(seconds_ago),
            duration_ms: 5,
            status_code: Some(if succeeded { 200 } else { 500 }),
            error: None,
            response_excerpt: None,
            succeeded,
            outcome,
            next_retry_at: None,
        }
    }

    #[test]
    fn health_counts_failures_since_the_last_success_and_ignores_pacing() {
        let attempts = [
            attempt(1, false, AttemptOutcome::RetryScheduled),
            attempt(2, false, AttemptOutcome::RateLimited),
            attempt(3, false, AttemptOutcome::Failed),
            attempt(4, true, AttemptOutcome::Delivered),
            attempt(5, false, AttemptOutcome::RetryScheduled),
        ];
        let health = health_of(&attempts);
        assert_eq!(health.consecutive_failures, 2);
        assert_eq!(
            health.last_success_at,
            Some(rfc3339(attempts[3].attempted_at))
        );
        assert_eq!(
            health.last_attempt_at,
            Some(rfc3339(attempts[0].attempted_at))
        );
        assert_eq!(health_of(&[]), DeliveryHealth::default());
    }
}
