//! Watchtower signals, on the pro plan and up: the outreach engine reports what it noticed
//! about leads and companies, and integrators list them or receive `watchtower.alert`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use socialscalr_core::ids;
use socialscalr_core::model::{NewSignal, Signal, SignalType};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::SignalFilter;
use utoipa::IntoParams;

use super::leads::{Reported, parse_since};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathId, Query};
use crate::openapi::ErrorBody;
use crate::pagination::{ListResponse, MAX_LIMIT, page_request};

const FEATURE: &str = "Watchtower";
const WATCHTOWER_PLAN: Plan = Plan::Pro;
/// The query of a signal list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignalQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Signals of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<SignalType>,
    /// Signals about this lead.
    pub lead_id: Option<String>,
    /// Recorded at or after: an RFC 3339 time, or a duration back from now such as `24h`.
    pub since: Option<String>,
}

fn signal_filter(query: &SignalQuery) -> Result<SignalFilter, ApiError> {
    let lead_id = match query.lead_id.as_deref() {
        Some("") => return Err(ApiError::invalid("lead_id", "must not be empty")),
        other => other.map(str::to_owned),
    };
    Ok(SignalFilter {
        kind: query.kind,
        lead_id,
        since: query.since.as_deref().map(parse_since).transpose()?,
    })
}

/// Recent signals, newest first. Pro plan and up.
#[utoipa::path(
    get,
    path = "/watchtower/signals",
    tag = "watchtower",
    params(SignalQuery),
    responses(
        (status = 200, description = "A page of signals", body = ListResponse<Signal>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<SignalQuery>,
) -> Result<Json<ListResponse<Signal>>, ApiError> {
    caller.require_plan(WATCHTOWER_PLAN, FEATURE)?;
    let filter = signal_filter(&query)?;
    let page = page_request(query.limit, query.cursor.as_deref(), ids::SIGNAL, MAX_LIMIT)?;
    let signals = state
        .store
        .list_signals(caller.workspace_id(), &filter, &page)
        .await?;
    Ok(Json(ListResponse::from_page(signals)))
}

/// One signal. Pro plan and up.
#[utoipa::path(
    get,
    path = "/watchtower/signals/{id}",
    tag = "watchtower",
    params(("id" = String, Path, description = "The signal's id (`sig_…`)")),
    responses(
        (status = 200, description = "The signal", body = Signal),
        (status = "4XX", description = "Refused or not found", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Signal>, ApiError> {
    caller.require_plan(WATCHTOWER_PLAN, FEATURE)?;
    let signal = state.store.get_signal(caller.workspace_id(), &id).await?;
    signal.map(Json).ok_or(ApiError::NotFound("signal"))
}

/// Report a Watchtower signal; emits `watchtower.alert`. Pro plan and up. The body is read
/// only after the plan check, so that a workspace without Watchtower hears that first.
#[utoipa::path(
    post,
    path = "/watchtower/signals",
    tag = "watchtower",
    request_body = NewSignal,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The signal", body = Reported<Signal>),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
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
