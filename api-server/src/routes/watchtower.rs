//! Watchtower signals, on the pro plan and up: the outreach engine reports what it noticed
//! about leads and companies, and integrators list them or receive `watchtower.alert`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use socialscalr_core::ids;
use socialscalr_core::model::{NewSignal, Signal, SignalType};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::SignalFilter;

use super::leads::{Reported, parse_since};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

const FEATURE: &str = "Watchtower";
const WATCHTOWER_PLAN: Plan = Plan::Pro;
const SIGNAL_FILTERS: [&str; 5] = ["limit", "cursor", "type", "lead_id", "since"];

fn signal_filter(params: &QueryParams) -> Result<SignalFilter, ApiError> {
    let kind = params
        .get("type")
        .map(|text| {
            text.parse::<SignalType>().map_err(|_| {
                let message = format!("must be one of {}", SignalType::names());
                ApiError::invalid("type", message)
            })
        })
        .transpose()?;
    let lead_id = match params.get("lead_id") {
        Some("") => return Err(ApiError::invalid("lead_id", "must not be empty")),
        other => other.map(str::to_owned),
    };
    Ok(SignalFilter {
        kind,
        lead_id,
        since: params.get("since").map(parse_since).transpose()?,
    })
}

/// Recent signals, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<ListResponse<Signal>>, ApiError> {
    caller.require_plan(WATCHTOWER_PLAN, FEATURE)?;
    params.allow_only(&SIGNAL_FILTERS)?;
    let filter = signal_filter(&params)?;
    let page = page_request(&params, ids::SIGNAL, MAX_LIMIT)?;
    let signals = state
        .store
        .list_signals(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(signals)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Signal>, ApiError> {
    caller.require_plan(WATCHTOWER_PLAN, FEATURE)?;
    let signal = state.store.get_signal(caller.workspace_id(), &id).await?;
    signal.map(Json).ok_or(ApiError::NotFound("signal"))
}

/// Records a signal and emits `watchtower.alert`. The body is read only after the plan
/// check, so that a workspace without Watchtower hears that first.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<JsonBody<NewSignal>, ApiError>,
) -> Result<(StatusCode, Json<Reported<Signal>>), ApiError> {
    caller.require_plan(WATCHTOWER_PLAN, FEATURE)?;
    let JsonBody(new) = body?;
    new.validate()?;
    let (signal, event_id) = state
        .store
        .record_signal(caller.workspace_id(), &new)
        .await?;
    tracing::info!(signal = %signal.id, event = %event_id, "Watchtower signal recorded");
    Ok((
        StatusCode::CREATED,
        Json(Reported {
            record: signal,
            event_id: Some(event_id),
        }),
    ))
}
