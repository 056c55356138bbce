use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use socialscalr_core::ids;
use socialscalr_core::model::{DeliveryAttempt, NewWebhookEndpoint, WebhookEndpoint};
use socialscalr_core::signing::generate_secret;
use socialscalr_core::store::{ATTEMPT_LOG_LENGTH, NewEndpointRow};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathId, Query};
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, PageQuery, page_request};

/// The endpoint as created, with its signing secret: the only time the secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: WebhookEndpoint,
    secret: String,
}

/// Register a webhook endpoint. The answer holds its signing `secret`, shown this once.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body = NewWebhookEndpoint,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The endpoint and its secret", body = CreatedEndpoint),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
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

/// The workspace's webhook endpoints, newest first (never their secrets).
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of endpoints", body = ListResponse<WebhookEndpoint>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<ListResponse<WebhookEndpoint>>, ApiError> {
    let page = page_request(
        query.limit,
        query.cursor.as_deref(),
        ids::ENDPOINT,
        MAX_LIMIT,
    )?;
    let endpoints = state
        .store
        .list_endpoints(caller.workspace_id(), &page)
        .await?;
    Ok(Json(ListResponse::from_page(endpoints)))
}

/// One webhook endpoint.
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (`ep_…`)")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpoint),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    let endpoint = state.store.get_endpoint(caller.workspace_id(), &id).await?;
    endpoint
        .map(Json)
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

/// Delete an endpoint; its queued deliveries are cancelled.
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (`ep_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    let existing = state.store.get_endpoint(caller.workspace_id(), &id).await?;
    let managed_by = existing.and_then(|e| e.managed_by);
    ApiError::refuse_managed("webhook endpoint", &id, managed_by.as_deref())?;
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

/// The endpoint's most recent delivery attempts (the last 100), newest first.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (`ep_…`)"), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = ListResponse<DeliveryAttempt>),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Query(query): Query<PageQuery>,
) -> Result<Json<ListResponse<DeliveryAttempt>>, ApiError> {
    let max = ATTEMPT_LOG_LENGTH.min(MAX_LIMIT);
    let page = page_request(query.limit, query.cursor.as_deref(), ids::ATTEMPT, max)?;
    let attempts = state
        .store
        .list_attempts(caller.workspace_id(), &id, &page)
        .await?;
    Ok(Json(ListResponse::from_page(attempts)))
}
