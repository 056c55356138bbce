//! Token management, for admin tokens: issue, list, rotate, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use socialscalr_core::model::{ApiToken, NewToken};
use socialscalr_core::{duration, ids, time, token};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

/// A token as issued: the only time its secret is shown.
#[derive(Serialize)]
pub struct IssuedToken {
    #[serde(flatten)]
    token: ApiToken,
    #[serde(rename = "token")]
    secret: String,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<ApiToken>>, ApiError> {
    params.allow_only(&["limit", "cursor"])?;
    let page = page_request(&params, ids::TOKEN, MAX_LIMIT)?;
    Ok(Json(ListResponse::from_page(
        state
            .store
            .list_tokens(caller.workspace_id(), &page)
            .await?,
    )))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let found = state.store.get_token(caller.workspace_id(), &id).await?;
    found.map(Json).ok_or(ApiError::NotFound("token"))
}

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

/// Issues a successor; the rotated token keeps working for `?grace=` (default 24 h).
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: QueryParams,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    params.allow_only(&["grace"])?;
    let grace = match params.get("grace") {
        None => state.rotation_grace,
        Some(text) => duration::parse(text)
            .map_err(|e| ApiError::invalid("grace", format!("must be a duration: it {e}")))?,
    };
    let grace_until = time::now()
        + chrono::Duration::from_std(grace)
            .map_err(|_| ApiError::invalid("grace", "is too large"))?;
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

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.revoke_token(caller.workspace_id(), &id).await? {
        tracing::info!(token = %id, "Token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("token"))
    }
}
