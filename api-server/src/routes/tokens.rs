//! Token management, for admin tokens: issue, list, rotate, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use socialscalr_core::model::{ApiToken, NewToken};
use socialscalr_core::{duration, ids, time, token};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathId, Query};
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, PageQuery, page_request};

/// A token as issued: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    #[serde(flatten)]
    token: ApiToken,
    #[serde(rename = "token")]
    secret: String,
}

/// The workspace's tokens, newest first (never their secrets).
#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = ListResponse<ApiToken>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<ListResponse<ApiToken>>, ApiError> {
    let page = page_request(query.limit, query.cursor.as_deref(), ids::TOKEN, MAX_LIMIT)?;
    Ok(Json(ListResponse::from_page(
        state
            .store
            .list_tokens(caller.workspace_id(), &page)
            .await?,
    )))
}

/// One token.
#[utoipa::path(
    get,
    path = "/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id (`tok_…`)")),
    responses(
        (status = 200, description = "The token", body = ApiToken),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<ApiToken>, ApiError> {
    let found = state.store.get_token(caller.workspace_id(), &id).await?;
    found.map(Json).ok_or(ApiError::NotFound("token"))
}

/// Issue a token. The answer holds the `token`, shown this once.
#[utoipa::path(
    post,
    path = "/tokens",
    tag = "tokens",
    request_body = NewToken,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The token and its secret", body = IssuedToken),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    new.validate(time::now())?;
    let issued = token::issue();
    let created = state
        .store
        .create_token(caller.workspace_id(), &new, &issued)
        .await?;
    tracing::info!(token = %created.id, "Token issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: created,
            secret: issued.token,
        }),
    ))
}

/// The query of a rotation.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// How long the rotated token keeps working, such as `2h` (default 24 h).
    pub grace: Option<String>,
}

/// Issue a successor with the same name, scopes and seat; the rotated token keeps working
/// for the grace period.
#[utoipa::path(
    post,
    path = "/tokens/{id}/rotate",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id (`tok_…`)"), RotateQuery),
    responses(
        (status = 201, description = "The successor and its secret", body = IssuedToken),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Query(query): Query<RotateQuery>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let grace = match query.grace.as_deref() {
        None => state.rotation_grace,
        Some(text) => duration::parse(text)
            .map_err(|e| ApiError::invalid("grace", format!("must be a duration: it {e}")))?,
    };
    let grace_until = time::now()
        + chrono::Duration::from_std(grace)
            .map_err(|_| ApiError::invalid("grace", "is too large"))?;
    let existing = state.store.get_token(caller.workspace_id(), &id).await?;
    let managed_by = existing.and_then(|t| t.managed_by);
    ApiError::refuse_managed("token", &id, managed_by.as_deref())?;
    let issued = token::issue();
    let successor = state
        .store
        .rotate_token(caller.workspace_id(), &id, &issued, grace_until)
        .await?;
    tracing::info!(token = %id, successor = %successor.id, "Token rotated");
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: successor,
            secret: issued.token,
        }),
    ))
}

/// Revoke a token at once.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id (`tok_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    let existing = state.store.get_token(caller.workspace_id(), &id).await?;
    let managed_by = existing.and_then(|t| t.managed_by);
    ApiError::refuse_managed("token", &id, managed_by.as_deref())?;
    if state.store.revoke_token(caller.workspace_id(), &id).await? {
        tracing::info!(token = %id, "Token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("token"))
    }
}
