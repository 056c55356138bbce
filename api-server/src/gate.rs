//! The gate every API route is behind: authenticate, count the request against the
//! workspace's rate limit, check the token's scope, honour an `Idempotency-Key`, run the
//! route, and record the call in the audit log. Every answer to an authenticated caller
//! carries the rate-limit headers.

use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use socialscalr_core::ids;
use socialscalr_core::plan::Plan;
use socialscalr_core::ratelimit::{Bucket, Decision, WINDOW};
use socialscalr_core::store::AuditEntry;
use socialscalr_core::time;

use crate::AppState;
use crate::auth::authenticate;
use crate::error::ApiError;
use crate::idempotency;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match authenticate(request.headers(), &state).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let span = tracing::Span::current();
    span.record("workspace", caller.workspace_id());
    span.record("token", caller.token.id.as_str());

    let limit = caller.workspace.requests_per_minute().unwrap_or_default();
    let decision = state
        .limiter
        .check(Bucket::Api, caller.workspace_id(), limit, WINDOW)
        .await;
    let method = request.method().clone();
    // Inside the nested API router the URI has lost its `/api/v1` prefix.
    let path = request.extensions().get::<OriginalUri>().map_or_else(
        || request.uri().path().to_owned(),
        |uri| uri.path().to_owned(),
    );
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |matched| matched.as_str().to_owned());

    let mut response = if let Some(retry_after) = decision.retry_after {
        state.metrics.rate_limited(caller.workspace_id());
        ApiError::RateLimited { limit, retry_after }.into_response()
    } else if let Err(refused) = caller.require_scope_for(&method, &path) {
        refused.into_response()
    } else {
        request.extensions_mut().insert(caller.clone());
        idempotency::run(&state, &caller, request, next).await
    };
    rate_limit_headers(&mut response, &decision);
    state
        .metrics
        .workspace_request(caller.workspace_id(), response.status().as_u16());

    // Refused floods are not written, so a client over its limit cannot load the store.
    let keeps_audit = matches!(caller.workspace.plan, Plan::Pro | Plan::Agency);
    if keeps_audit && response.status() != StatusCode::TOO_MANY_REQUESTS {
        let entry = AuditEntry {
            id: ids::new_id("aud"),
            workspace_id: caller.workspace.id.clone(),
            token_id: caller.token.id.clone(),
            token_name: caller.token.name.clone(),
            seat: caller.token.seat.clone(),
            method: method.to_string(),
            route,
            path,
            status: response.status().as_u16(),
            at: time::now(),
        };
        state.audit.record(entry).await;
    }
    response
}

fn rate_limit_headers(response: &mut Response, decision: &Decision) {
    let headers = response.headers_mut();
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(decision.reset_at));
}
