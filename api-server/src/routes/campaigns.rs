use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use socialscalr_core::ids;
use socialscalr_core::model::{Campaign, LeadWithHistory, NewCampaign};

use super::leads::{LEAD_FILTERS, lead_filter};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<Campaign>>, ApiError> {
    params.allow_only(&["limit", "cursor"])?;
    let page = page_request(&params, ids::CAMPAIGN, MAX_LIMIT)?;
    let campaigns = state
        .store
        .list_campaigns(caller.workspace_id(), &page)
        .await?;
    Ok(Json(ListResponse::from_page(campaigns)))
}

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

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Campaign>, ApiError> {
    let campaign = state.store.get_campaign(caller.workspace_id(), &id).await?;
    campaign.map(Json).ok_or(ApiError::NotFound("campaign"))
}

/// The campaign's leads, with the same filters as `GET /leads` but `campaign_id`.
pub async fn leads(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: QueryParams,
) -> Result<Json<ListResponse<LeadWithHistory>>, ApiError> {
    let allowed: Vec<&str> = LEAD_FILTERS
        .iter()
        .copied()
        .filter(|name| *name != "campaign_id")
        .collect();
    params.allow_only(&allowed)?;
    if state
        .store
        .get_campaign(caller.workspace_id(), &id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("campaign"));
    }
    let mut filter = lead_filter(&params)?;
    filter.campaign_id = Some(id);
    let page = page_request(&params, ids::LEAD, MAX_LIMIT)?;
    let leads = state
        .store
        .list_leads(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(leads)))
}
