use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use socialscalr_core::ids;
use socialscalr_core::model::{DeliveryAttempt, NewWebhookEndpoint, WebhookEndpoint};
use socialscalr_core::signing::generate_secret;
use socialscalr_core::store::{ATTEMPT_LOG_LENGTH, NewEndpointRow};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

/// The endpoint as created, with its signing secret: the only time the secret is shown.
#[derive(Serialize)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: WebhookEndpoint,
    secret: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewWebhookEndpoint>,
) -> Result<(StatusCode, HeaderMap, Json<CreatedEndpoint>), ApiError> {
    new.validate(&state.target_policy)?;
    let id = ids::new_id(ids::ENDPOINT);
    let secret = generate_secret();
    let row = NewEndpointRow {
        sealed_secret: state.secrets.seal(&id, &secret),
        id,
        url: new.url.clone(),
        description: new.description.clone(),
        events: new.event_set(),
        format: new.resolved_format(),
    };
    let endpoint = state
        .store
        .create_endpoint(caller.workspace_id(), &row)
        .await?;
    tracing::info!(endpoint = %endpoint.id, format = %endpoint.format, "Webhook endpoint created");
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/webhooks/{}", endpoint.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        Json(CreatedEndpoint { endpoint, secret }),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<WebhookEndpoint>>, ApiError> {
    params.allow_only(&["limit", "cursor"])?;
    let page = page_request(&params, ids::ENDPOINT, MAX_LIMIT)?;
    let endpoints = state
        .store
        .list_endpoints(caller.workspace_id(), &page)
        .await?;
    Ok(Json(ListResponse::from_page(endpoints)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    let endpoint = state.store.get_endpoint(caller.workspace_id(), &id).await?;
    endpoint
        .map(Json)
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_endpoint(caller.workspace_id(), &id)
        .await?
    {
        tracing::info!(endpoint = %id, "Webhook endpoint deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("webhook endpoint"))
    }
}

/// The endpoint's most recent delivery attempts, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: QueryParams,
) -> Result<Json<ListResponse<DeliveryAttempt>>, ApiError> {
    params.allow_only(&["limit", "cursor"])?;
    let page = page_request(&params, ids::ATTEMPT, ATTEMPT_LOG_LENGTH.min(MAX_LIMIT))?;
    let attempts = state
        .store
        .list_attempts(caller.workspace_id(), &id, &page)
        .await?;
    Ok(Json(ListResponse::from_page(attempts)))
}
