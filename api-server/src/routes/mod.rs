//! The routes. Each handler carries its OpenAPI description, and the router is built from
//! the same list, so the document served at `/api/v1/openapi.json` is the API itself.

mod audit_log;
mod campaigns;
mod health;
mod leads;
mod posts;
mod tokens;
mod watchtower;
mod webhooks;
mod workspace;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::ApiDoc;

/// The API routes behind the gate, with their description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(campaigns::get))
        .routes(routes!(campaigns::leads))
        .routes(routes!(leads::list, leads::create))
        .routes(routes!(leads::get, leads::update))
        .routes(routes!(leads::add_message))
        .routes(routes!(leads::add_activity))
        .routes(routes!(posts::list, posts::create))
        .routes(routes!(posts::get))
        .routes(routes!(posts::report_result))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::get, tokens::revoke))
        .routes(routes!(tokens::rotate))
        .routes(routes!(watchtower::list, watchtower::create))
        .routes(routes!(watchtower::get))
        .routes(routes!(workspace::get))
        .routes(routes!(audit_log::list))
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api())
        .into_openapi()
}

pub fn router(state: AppState) -> Router<AppState> {
    let gated = api().route_layer(axum::middleware::from_fn_with_state(
        state,
        crate::gate::gate,
    ));
    let (api, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", gated)
        .split_for_parts();
    let document = Arc::new(document);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(Arc::clone(&document)) }),
        )
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
