use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use socialscalr_core::ids;
use socialscalr_core::model::{Campaign, LeadWithHistory, NewCampaign};

use super::leads::{CampaignLeadQuery, lead_filter};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathId, Query};
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, PageQuery, page_request};

/// List campaigns, newest first.
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "campaigns",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of campaigns", body = ListResponse<Campaign>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<ListResponse<Campaign>>, ApiError> {
    let page = page_request(
        query.limit,
        query.cursor.as_deref(),
        ids::CAMPAIGN,
        MAX_LIMIT,
    )?;
    let campaigns = state
        .store
        .list_campaigns(caller.workspace_id(), &page)
        .await?;
    Ok(Json(ListResponse::from_page(campaigns)))
}

/// Create a campaign with its targeting source and sequence steps.
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "campaigns",
    request_body = NewCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The campaign", body = Campaign),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewCampaign>,
) -> Result<(StatusCode, Json<Campaign>), ApiError> {
    new.validate()?;
    let campaign = state
        .store
        .create_campaign(caller.workspace_id(), &new)
        .await?;
    tracing::info!(campaign = %campaign.id, "Campaign created");
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// One campaign.
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id (`cmp_…`)")),
    responses(
        (status = 200, description = "The campaign", body = Campaign),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Campaign>, ApiError> {
    let campaign = state.store.get_campaign(caller.workspace_id(), &id).await?;
    campaign.map(Json).ok_or(ApiError::NotFound("campaign"))
}

/// The campaign's leads, with the filters of `GET /leads` but `campaign_id`.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/leads",
    tag = "campaigns",
    params(("id" = String, Path, description = "The campaign's id (`cmp_…`)"), CampaignLeadQuery),
    responses(
        (status = 200, description = "A page of leads", body = ListResponse<LeadWithHistory>),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn leads(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Query(query): Query<CampaignLeadQuery>,
) -> Result<Json<ListResponse<LeadWithHistory>>, ApiError> {
    if state
        .store
        .get_campaign(caller.workspace_id(), &id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("campaign"));
    }
    let mut filter = lead_filter(&query.filters())?;
    filter.campaign_id = Some(id);
    let page = page_request(query.limit, query.cursor.as_deref(), ids::LEAD, MAX_LIMIT)?;
    let leads = state
        .store
        .list_leads(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(leads)))
}
