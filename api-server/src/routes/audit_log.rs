use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{AuditEntry, AuditFilter};
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Calls made with this token.
    pub token_id: Option<String>,
    /// Calls made with tokens of this agency seat.
    pub seat: Option<String>,
}

/// Who called what and when, newest first; pro plan and up.
#[utoipa::path(
    get,
    path = "/audit-log",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of calls", body = ListResponse<AuditEntry>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<ListResponse<AuditEntry>>, ApiError> {
    caller.require_plan(Plan::Pro, "The audit log")?;
    let page = page_request(query.limit, query.cursor.as_deref(), "aud", MAX_LIMIT)?;
    let filter = AuditFilter {
        token_id: query.token_id,
        seat: query.seat,
    };
    let entries = state
        .store
        .list_audit(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(entries)))
}
