//! One span, one log line and the request metrics per request: method, route, workspace,
//! token id, status and duration. Headers are never logged, so no token secret is.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::AppState;

pub async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The matched template, not the path, so that ids do not multiply the series.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        workspace = tracing::field::Empty,
        token = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.request(method, &route, status, elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1_000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms, "Request handled"));
    response
}

/// Standard methods by name; anything a client makes up counts as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
