use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use socialscalr_core::duration;
use socialscalr_core::ids;
use socialscalr_core::model::{
    Activity, LeadPatch, LeadWithHistory, Message, NewActivity, NewLead, NewMessage, Stage,
};
use socialscalr_core::store::LeadFilter;
use socialscalr_core::time::{self, Timestamp};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathId, Query};
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

/// The filters of a lead list.
pub struct LeadFilters<'a> {
    pub stage: Option<Stage>,
    pub tag: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub campaign_id: Option<&'a str>,
    pub since: Option<&'a str>,
    pub last_activity_after: Option<&'a str>,
    pub last_activity_before: Option<&'a str>,
}

/// The query of `GET /leads`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub stage: Option<Stage>,
    /// Leads carrying this tag.
    pub tag: Option<String>,
    pub owner: Option<String>,
    pub campaign_id: Option<String>,
    /// Last activity at or after: an RFC 3339 time, or a duration back from now such as
    /// `24h`, `90m`, `7d` (units s, m, h, d, w).
    pub since: Option<String>,
    /// Last activity at or after this RFC 3339 time.
    #[param(format = DateTime)]
    pub last_activity_after: Option<String>,
    /// Last activity before this RFC 3339 time.
    #[param(format = DateTime)]
    pub last_activity_before: Option<String>,
}

/// The query of `GET /campaigns/{id}/leads`: the lead filters but `campaign_id`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignLeadQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub stage: Option<Stage>,
    /// Leads carrying this tag.
    pub tag: Option<String>,
    pub owner: Option<String>,
    /// Last activity at or after: an RFC 3339 time, or a duration such as `24h`.
    pub since: Option<String>,
    /// Last activity at or after this RFC 3339 time.
    #[param(format = DateTime)]
    pub last_activity_after: Option<String>,
    /// Last activity before this RFC 3339 time.
    #[param(format = DateTime)]
    pub last_activity_before: Option<String>,
}

impl LeadQuery {
    fn filters(&self) -> LeadFilters<'_> {
        LeadFilters {
            stage: self.stage,
            tag: self.tag.as_deref(),
            owner: self.owner.as_deref(),
            campaign_id: self.campaign_id.as_deref(),
            since: self.since.as_deref(),
            last_activity_after: self.last_activity_after.as_deref(),
            last_activity_before: self.last_activity_before.as_deref(),
        }
    }
}

impl CampaignLeadQuery {
    pub fn filters(&self) -> LeadFilters<'_> {
        LeadFilters {
            stage: self.stage,
            tag: self.tag.as_deref(),
            owner: self.owner.as_deref(),
            campaign_id: None,
            since: self.since.as_deref(),
            last_activity_after: self.last_activity_after.as_deref(),
            last_activity_before: self.last_activity_before.as_deref(),
        }
    }
}

/// Checks the filters and turns them into the store's.
pub fn lead_filter(filters: &LeadFilters<'_>) -> Result<LeadFilter, ApiError> {
    let text = |name: &'static str, value: Option<&str>| -> Result<Option<String>, ApiError> {
        match value {
            Some("") => Err(ApiError::invalid(name, "must not be empty")),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let since = filters.since.map(parse_since).transpose()?;
    let after = filters
        .last_activity_after
        .map(|t| parse_time("last_activity_after", t))
        .transpose()?;
    let before = filters
        .last_activity_before
        .map(|t| parse_time("last_activity_before", t))
        .transpose()?;
    Ok(LeadFilter {
        stage: filters.stage,
        tag: text("tag", filters.tag)?,
        owner: text("owner", filters.owner)?,
        campaign_id: text("campaign_id", filters.campaign_id)?,
        active_since: since.max(after),
        active_before: before,
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

/// Leads of the workspace with their notes, messages and activity, newest first.
#[utoipa::path(
    get,
    path = "/leads",
    tag = "leads",
    params(LeadQuery),
    responses(
        (status = 200, description = "A page of leads", body = ListResponse<LeadWithHistory>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<LeadQuery>,
) -> Result<Json<ListResponse<LeadWithHistory>>, ApiError> {
    let filter = lead_filter(&query.filters())?;
    let page = page_request(query.limit, query.cursor.as_deref(), ids::LEAD, MAX_LIMIT)?;
    let leads = state
        .store
        .list_leads(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(leads)))
}

/// Add a lead: a LinkedIn profile, or contact data.
#[utoipa::path(
    post,
    path = "/leads",
    tag = "leads",
    request_body = NewLead,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The lead", body = LeadWithHistory),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
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

/// One lead with its notes, messages and activity.
#[utoipa::path(
    get,
    path = "/leads/{id}",
    tag = "leads",
    params(("id" = String, Path, description = "The lead's id (`ld_…`)")),
    responses(
        (status = 200, description = "The lead", body = LeadWithHistory),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<LeadWithHistory>, ApiError> {
    let lead = state.store.get_lead(caller.workspace_id(), &id).await?;
    lead.map(Json).ok_or(ApiError::NotFound("lead"))
}

/// Change a lead's stage, owner, tags or custom fields, or add a note.
#[utoipa::path(
    patch,
    path = "/leads/{id}",
    tag = "leads",
    request_body = LeadPatch,
    params(("id" = String, Path, description = "The lead's id (`ld_…`)")),
    responses(
        (status = 200, description = "The lead as changed", body = LeadWithHistory),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<LeadPatch>,
) -> Result<Json<LeadWithHistory>, ApiError> {
    patch.validate()?;
    let lead = state
        .store
        .update_lead(caller.workspace_id(), &id, &patch)
        .await?;
    Ok(Json(lead))
}

/// A reported message or activity, and the event it emitted.
#[derive(Serialize, ToSchema)]
pub struct Reported<T: Serialize> {
    #[serde(flatten)]
    pub(super) record: T,
    /// The event this report emitted, if any.
    pub(super) event_id: Option<String>,
}

/// Report a LinkedIn message. An inbound one moves the lead to `replied` and emits
/// `lead.replied`.
#[utoipa::path(
    post,
    path = "/leads/{id}/messages",
    tag = "leads",
    request_body = NewMessage,
    params(
        ("id" = String, Path, description = "The lead's id (`ld_…`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
    ),
    responses(
        (status = 201, description = "The message", body = Reported<Message>),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn add_message(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
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

/// Report activity: `connected` (invite accepted, emits `lead.connected`) or `opened`
/// (engaged with a post, emits `lead.opened`).
#[utoipa::path(
    post,
    path = "/leads/{id}/activities",
    tag = "leads",
    request_body = NewActivity,
    params(
        ("id" = String, Path, description = "The lead's id (`ld_…`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
    ),
    responses(
        (status = 201, description = "The activity", body = Reported<Activity>),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn add_activity(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
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
