use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use socialscalr_core::ids;
use socialscalr_core::model::{NewPost, Post, PostResult, PostStatus};
use socialscalr_core::time;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<Post>>, ApiError> {
    params.allow_only(&["limit", "cursor", "status"])?;
    let status = params
        .get("status")
        .map(str::parse::<PostStatus>)
        .transpose()?;
    let page = page_request(&params, ids::POST, MAX_LIMIT)?;
    let posts = state
        .store
        .list_posts(caller.workspace_id(), status, &page)
        .await?;
    Ok(Json(ListResponse::from_page(posts)))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewPost>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    new.validate(time::now())?;
    let post = state.store.create_post(caller.workspace_id(), &new).await?;
    tracing::info!(post = %post.id, scheduled_at = %post.scheduled_at, "Post scheduled");
    Ok((StatusCode::CREATED, Json(post)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Post>, ApiError> {
    let post = state.store.get_post(caller.workspace_id(), &id).await?;
    post.map(Json).ok_or(ApiError::NotFound("post"))
}

#[derive(Serialize)]
pub struct ReportedResult {
    #[serde(flatten)]
    post: Post,
    /// The event the result emitted; a repeated report names the first report's event.
    event_id: String,
}

/// The outreach engine's report of a publish attempt. Reporting the same result again
/// answers 200 with the post and emits nothing; a different result is a 409.
pub async fn report_result(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(result): JsonBody<PostResult>,
) -> Result<Json<ReportedResult>, ApiError> {
    result.validate()?;
    let recorded = state
        .store
        .record_post_result(caller.workspace_id(), &id, &result)
        .await?;
    if recorded.repeated {
        tracing::info!(post = %id, "Post result reported again; nothing changed");
    } else {
        tracing::info!(
            post = %id,
            status = recorded.post.status.as_str(),
            event = %recorded.event_id,
            "Post result recorded"
        );
    }
    Ok(Json(ReportedResult {
        post: recorded.post,
        event_id: recorded.event_id,
    }))
}
