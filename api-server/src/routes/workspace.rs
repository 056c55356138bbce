//! The caller's own workspace: its plan and its members.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use socialscalr_core::model::{Member, Workspace};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::ErrorBody;

/// The workspace and its members.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceWithMembers {
    #[serde(flatten)]
    workspace: Workspace,
    members: Vec<Member>,
}

/// The caller's workspace: its plan, limits, cancellation and members.
#[utoipa::path(
    get,
    path = "/workspace",
    tag = "workspace",
    responses(
        (status = 200, description = "The workspace", body = WorkspaceWithMembers),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WorkspaceWithMembers>, ApiError> {
    let members = state.store.list_members(caller.workspace_id()).await?;
    Ok(Json(WorkspaceWithMembers {
        workspace: caller.workspace,
        members,
    }))
}
