//! ApiToken resources become a token in a Secret and its hash in the store. The token is
//! generated once; a higher rotation generation issues a new one and leaves the old one
//! working for the grace period. Deleting the resource revokes both.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};
use socialscalr_core::model::Scope;
use socialscalr_core::time;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::owned::{FINALIZER, namespace, owner_reference};
use crate::resources::{ApiToken, ApiTokenStatus};
use crate::workspace::{self, Lookup};
use crate::{status, tokens};

pub const KIND: &str = "ApiToken";

/// How soon a token waiting for its workspace is tried again, besides the workspace's own
/// changes, which wake it at once.
const WAIT_FOR_WORKSPACE: std::time::Duration = std::time::Duration::from_secs(30);

pub fn secret_name(token: &str) -> String {
    format!("{token}-api-token")
}

pub async fn reconcile(object: Arc<ApiToken>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<ApiToken> = Api::namespaced(ctx.client.clone(), &namespace(&*object)?);
    finalizer(&api, FINALIZER, object, |event| async {
        match event {
            Event::Apply(object) => apply(&object, &ctx, &api).await,
            Event::Cleanup(object) => cleanup(&object, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(object: &ApiToken, ctx: &Context, api: &Api<ApiToken>) -> Result<Action> {
    let namespace = namespace(object)?;
    let spec = &object.spec;
    let reference = object.object_ref(&());

    let workspace = match workspace::lookup(ctx, &namespace, &spec.workspace_ref).await? {
        Lookup::Found(workspace) => workspace,
        Lookup::Unusable { reason, message } => {
            return status::not_ready(api, object, ctx, reason, message, WAIT_FOR_WORKSPACE).await;
        }
    };

    // The schema admits only well-formed scopes and times; these parse.
    let scopes = if spec.scopes.is_empty() {
        Scope::all_resources()
    } else {
        let parsed: Result<Vec<Scope>, _> = spec.scopes.iter().map(|s| s.parse()).collect();
        match parsed {
            Ok(scopes) => scopes,
            Err(error) => {
                let message = error.to_string();
                return status::not_ready(
                    api,
                    object,
                    ctx,
                    "Invalid",
                    message,
                    ctx.settings.resync,
                )
                .await;
            }
        }
    };
    let expires_at = match spec.expires_at.as_deref().map(time::parse_rfc3339) {
        Some(None) => {
            let message = "expiresAt is not an RFC 3339 time".to_owned();
            return status::not_ready(api, object, ctx, "Invalid", message, ctx.settings.resync)
                .await;
        }
        Some(Some(at)) => Some(at),
        None => None,
    };

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let secret_name = secret_name(&object.name_any());
    let wanted = tokens::Wanted {
        workspace_id: &workspace.id,
        name: object.name_any(),
        scopes,
        seat: spec.seat.clone(),
        expires_at,
        generation: spec.rotation_generation,
        owner: format!("ApiToken {namespace}/{}", object.name_any()),
    };
    let owner = owner_reference(object)?;
    let token =
        match tokens::ensure(ctx, &secrets, &secret_name, &namespace, &owner, &wanted).await? {
            tokens::Outcome::Ready { token, issued } => {
                if issued {
                    tokens::announce(ctx, &reference, &token, &secret_name).await;
                }
                token
            }
            tokens::Outcome::Refused(refused) => {
                let resync = ctx.settings.resync;
                return status::not_ready(api, object, ctx, "Refused", refused.0, resync).await;
            }
        };

    let (ready, reason, message) = if token.revoked_at.is_some() {
        (
            false,
            "Revoked",
            format!("token {} was revoked in the store", token.id),
        )
    } else if token.expires_at.is_some_and(|at| at <= time::now()) {
        (false, "Expired", format!("token {} has expired", token.id))
    } else {
        let message = format!(
            "token {} ({}) of workspace {}",
            token.id, token.prefix, workspace.id
        );
        (true, "Issued", message)
    };
    let current = object.status.as_ref();
    let previous = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    let generation = object.metadata.generation;
    let new_status = ApiTokenStatus {
        token_id: Some(token.id.clone()),
        prefix: Some(token.prefix.clone()),
        secret_name: Some(secret_name),
        rotation_generation: Some(spec.rotation_generation),
        observed_generation: generation,
        conditions: status::ready(previous, generation, ready, reason, message),
    };
    status::write(api, object, current, &new_status).await?;
    Ok(Action::requeue(ctx.settings.resync))
}

async fn cleanup(object: &ApiToken, ctx: &Context) -> Result<Action> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace(object)?);
    let revoked = tokens::revoke_kept(ctx, &secrets, &secret_name(&object.name_any())).await?;
    if revoked > 0 {
        tracing::info!(revoked, "API token revoked");
        let note = format!("Revoked {revoked} token(s)");
        ctx.event(&object.object_ref(&()), EventType::Normal, "Revoked", note)
            .await;
    }
    Ok(Action::await_change())
}
