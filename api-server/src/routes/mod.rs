mod audit_log;
mod campaigns;
mod health;
mod leads;
mod tokens;
mod webhooks;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
use crate::error::ApiError;

pub fn router(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/{id}", get(campaigns::get))
        .route("/campaigns/{id}/leads", get(campaigns::leads))
        .route("/leads", get(leads::list).post(leads::create))
        .route("/leads/{id}", get(leads::get).patch(leads::update))
        .route("/leads/{id}/messages", post(leads::add_message))
        .route("/leads/{id}/activities", post(leads::add_activity))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", get(tokens::get).delete(tokens::revoke))
        .route("/tokens/{id}/rotate", post(tokens::rotate))
        .route("/audit-log", get(audit_log::list))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::gate::gate,
        ));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
