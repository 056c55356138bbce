//! Bearer token authentication: the token's public id finds its row, the secret is
//! compared with the stored hash in constant time, and the plan must include the API.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use socialscalr_core::model::Workspace;
use socialscalr_core::plan::Plan;
use socialscalr_core::token;

use crate::AppState;
use crate::error::ApiError;

/// The caller: a token of a workspace whose plan includes the API.
pub struct Caller {
    pub workspace: Workspace,
}

impl Caller {
    pub fn workspace_id(&self) -> &str {
        &self.workspace.id
    }

    /// Refuses the call with `plan_required` unless the workspace is on `minimum` or higher.
    pub fn require_plan(&self, minimum: Plan, feature: &str) -> Result<(), ApiError> {
        if self.workspace.plan >= minimum {
            return Ok(());
        }
        Err(ApiError::PlanRequired(format!(
            "{feature} needs the {minimum} plan or higher; this workspace is on the {} plan",
            self.workspace.plan
        )))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "missing Authorization: Bearer <token> header",
            ))?;
        let presented = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ))?;
        let invalid = ApiError::Unauthorized("the token is not valid");
        let Some(presented) = token::parse(presented) else {
            return Err(invalid);
        };
        let credentials = state.store.token_credentials(presented.public_id).await?;
        let Some(credentials) = credentials.filter(|c| presented.matches(&c.secret_hash)) else {
            return Err(invalid);
        };
        let workspace = credentials.workspace;
        if workspace.cancelled_at.is_some() {
            return Err(ApiError::WorkspaceCancelled);
        }
        if !workspace.plan.includes_api() {
            return Err(ApiError::PlanRequired(format!(
                "the {} plan does not include the REST API; it needs the starter plan or higher",
                workspace.plan
            )));
        }
        let span = tracing::Span::current();
        span.record("workspace", workspace.id.as_str());
        span.record("token", credentials.token_id.as_str());
        Ok(Caller { workspace })
    }
}
