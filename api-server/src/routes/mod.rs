mod campaigns;
mod health;
mod leads;
mod posts;
mod webhooks;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/{id}", get(campaigns::get))
        .route("/campaigns/{id}/leads", get(campaigns::leads))
        .route("/leads", get(leads::list).post(leads::create))
        .route("/leads/{id}", get(leads::get).patch(leads::update))
        .route("/leads/{id}/messages", post(leads::add_message))
        .route("/leads/{id}/activities", post(leads::add_activity))
        .route("/posts", get(posts::list).post(posts::create))
        .route("/posts/{id}", get(posts::get))
        .route("/posts/{id}/result", post(posts::report_result))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
