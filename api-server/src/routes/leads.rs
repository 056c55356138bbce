use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use socialscalr_core::duration;
use socialscalr_core::ids;
use socialscalr_core::model::{
    Activity, LeadPatch, LeadWithHistory, Message, NewActivity, NewLead, NewMessage, Stage,
};
use socialscalr_core::store::LeadFilter;
use socialscalr_core::time::{self, Timestamp};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

pub const LEAD_FILTERS: [&str; 9] = [
    "limit",
    "cursor",
    "stage",
    "tag",
    "owner",
    "campaign_id",
    "since",
    "last_activity_after",
    "last_activity_before",
];

/// Reads the lead filters of a query.
pub fn lead_filter(params: &QueryParams) -> Result<LeadFilter, ApiError> {
    let stage = params
        .get("stage")
        .map(|text| {
            text.parse::<Stage>().map_err(|_| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::invalid("stage", format!("must be one of {}", names.join(", ")))
            })
        })
        .transpose()?;
    let text = |name: &'static str| -> Result<Option<String>, ApiError> {
        match params.get(name) {
            Some("") => Err(ApiError::invalid(name, "must not be empty")),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let since = params.get("since").map(parse_since).transpose()?;
    let after = params
        .get("last_activity_after")
        .map(|t| parse_time("last_activity_after", t));
    let before = params
        .get("last_activity_before")
        .map(|t| parse_time("last_activity_before", t));
    let after = after.transpose()?;
    Ok(LeadFilter {
        stage,
        tag: text("tag")?,
        owner: text("owner")?,
        campaign_id: text("campaign_id")?,
        active_since: since.max(after),
        active_before: before.transpose()?,
    })
}

/// `since` is an RFC 3339 time or a duration back from now (`24h`, `90m`, `7d`).
pub(super) fn parse_since(text: &str) -> Result<Timestamp, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = duration::parse(text).map_err(|e| {
        ApiError::invalid(
            "since",
            format!("must be an RFC 3339 time or a duration: it {e}"),
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| time::now().checked_sub_signed(ago))
        .ok_or_else(|| ApiError::invalid("since", "is too far in the past"))
}

fn parse_time(field: &'static str, text: &str) -> Result<Timestamp, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time"))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<LeadWithHistory>>, ApiError> {
    params.allow_only(&LEAD_FILTERS)?;
    let filter = lead_filter(&params)?;
    let page = page_request(&params, ids::LEAD, MAX_LIMIT)?;
    let leads = state
        .store
        .list_leads(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(leads)))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewLead>,
) -> Result<(StatusCode, Json<LeadWithHistory>), ApiError> {
    new.validate()?;
    let lead = state.store.create_lead(caller.workspace_id(), &new).await?;
    tracing::info!(lead = %lead.lead.id, "Lead created");
    Ok((StatusCode::CREATED, Json(lead)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LeadWithHistory>, ApiError> {
    let lead = state.store.get_lead(caller.workspace_id(), &id).await?;
    lead.map(Json).ok_or(ApiError::NotFound("lead"))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<LeadPatch>,
) -> Result<Json<LeadWithHistory>, ApiError> {
    patch.validate()?;
    let lead = state
        .store
        .update_lead(caller.workspace_id(), &id, &patch)
        .await?;
    Ok(Json(lead))
}

#[derive(Serialize)]
pub struct Reported<T: Serialize> {
    #[serde(flatten)]
    pub(super) record: T,
    /// The event this report emitted, if any.
    pub(super) event_id: Option<String>,
}

pub async fn add_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<Reported<Message>>), ApiError> {
    new.validate()?;
    let (message, event_id) = state
        .store
        .add_message(caller.workspace_id(), &id, &new)
        .await?;
    tracing::info!(lead = %id, message = %message.id, event = ?event_id, "Message recorded");
    Ok((
        StatusCode::CREATED,
        Json(Reported {
            record: message,
            event_id,
        }),
    ))
}

pub async fn add_activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewActivity>,
) -> Result<(StatusCode, Json<Reported<Activity>>), ApiError> {
    new.validate()?;
    let (activity, event_id) = state
        .store
        .add_activity(caller.workspace_id(), &id, &new)
        .await?;
    tracing::info!(lead = %id, activity = %activity.id, event = %event_id, "Activity recorded");
    Ok((
        StatusCode::CREATED,
        Json(Reported {
            record: activity,
            event_id: Some(event_id),
        }),
    ))
}
