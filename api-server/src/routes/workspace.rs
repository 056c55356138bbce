//! The caller's own workspace: its plan and its members.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use socialscalr_core::model::{Member, Workspace};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Serialize)]
pub struct WorkspaceWithMembers {
    #[serde(flatten)]
    workspace: Workspace,
    members: Vec<Member>,
}

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
