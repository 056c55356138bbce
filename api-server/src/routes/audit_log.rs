use axum::Json;
use axum::extract::State;
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{AuditEntry, AuditFilter};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

/// Who called what and when, newest first; pro plan and up.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<AuditEntry>>, ApiError> {
    caller.require_plan(Plan::Pro, "The audit log")?;
    params.allow_only(&["limit", "cursor", "token_id", "seat"])?;
    let page = page_request(&params, "aud", MAX_LIMIT)?;
    let filter = AuditFilter {
        token_id: params.get("token_id").map(str::to_owned),
        seat: params.get("seat").map(str::to_owned),
    };
    let entries = state
        .store
        .list_audit(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(entries)))
}
