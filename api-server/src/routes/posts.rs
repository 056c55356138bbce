use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use socialscalr_core::ids;
use socialscalr_core::model::{NewPost, Post, PostResult, PostStatus};
use socialscalr_core::time;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathId, Query};
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

/// The query of a post list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PostQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<PostStatus>,
}

/// Scheduled LinkedIn posts and their results, newest first.
#[utoipa::path(
    get,
    path = "/posts",
    tag = "posts",
    params(PostQuery),
    responses(
        (status = 200, description = "A page of posts", body = ListResponse<Post>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PostQuery>,
) -> Result<Json<ListResponse<Post>>, ApiError> {
    let status = query.status;
    let page = page_request(query.limit, query.cursor.as_deref(), ids::POST, MAX_LIMIT)?;
    let posts = state
        .store
        .list_posts(caller.workspace_id(), status, &page)
        .await?;
    Ok(Json(ListResponse::from_page(posts)))
}

/// Schedule a LinkedIn post.
#[utoipa::path(
    post,
    path = "/posts",
    tag = "posts",
    request_body = NewPost,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The post", body = Post),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
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

/// One post with its result.
#[utoipa::path(
    get,
    path = "/posts/{id}",
    tag = "posts",
    params(("id" = String, Path, description = "The post's id (`post_…`)")),
    responses(
        (status = 200, description = "The post", body = Post),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Post>, ApiError> {
    let post = state.store.get_post(caller.workspace_id(), &id).await?;
    post.map(Json).ok_or(ApiError::NotFound("post"))
}

/// The post after a reported result, and the event the result emitted.
#[derive(Serialize, ToSchema)]
pub struct ReportedResult {
    #[serde(flatten)]
    post: Post,
    /// The event the result emitted; a repeated report names the first report's event.
    event_id: String,
}

/// The outreach engine's report of a publish attempt: emits `post.published` or
/// `post.failed`. Reporting the same result again answers 200 with the post and emits
/// nothing; a different result is a 409.
#[utoipa::path(
    post,
    path = "/posts/{id}/result",
    tag = "posts",
    request_body = PostResult,
    params(
        ("id" = String, Path, description = "The post's id (`post_…`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
    ),
    responses(
        (status = 200, description = "The post and the event", body = ReportedResult),
        (status = "4XX", description = "Refused, not found or conflicting", body = ErrorBody),
    )
)]
pub async fn report_result(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
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
