//! Bearer token authentication: the token's public id finds its row, the secret is
//! compared with the stored hash in constant time, and the plan must include the API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use socialscalr_core::model::{Access, ApiToken, Family, Scope, Workspace};
use socialscalr_core::plan::Plan;
use socialscalr_core::{time, token};

use crate::AppState;
use crate::error::ApiError;

/// The caller of an API route: a live token of a workspace whose plan includes the API.
#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace: Workspace,
    pub token: ApiToken,
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

    /// Refuses the call unless the token holds a scope covering `needed`.
    pub fn require_scope(&self, needed: Scope) -> Result<(), ApiError> {
        if self.token.scopes.iter().any(|held| held.covers(needed)) {
            Ok(())
        } else {
            Err(ApiError::ScopeRequired(needed))
        }
    }

    /// The scope a route needs: read or write on its family, `admin` for the rest.
    pub fn require_scope_for(&self, method: &Method, path: &str) -> Result<(), ApiError> {
        let reading = method == Method::GET || method == Method::HEAD;
        if reading && Family::open_to_any_token(path) {
            return Ok(());
        }
        let access = if reading { Access::Read } else { Access::Write };
        let needed =
            Family::of_path(path).map_or(Scope::Admin, |family| Scope::Grant(family, access));
        self.require_scope(needed)
    }
}

/// Resolves the Bearer token of a request.
pub async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Caller, ApiError> {
    let header = headers
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
    let credentials = state
        .store
        .token_credentials(presented.public_id, time::now())
        .await?;
    let Some(credentials) = credentials.filter(|c| presented.matches(&c.secret_hash)) else {
        return Err(invalid);
    };
    let workspace = credentials.workspace;
    if workspace.cancelled_at.is_some() {
        return Err(ApiError::WorkspaceCancelled);
    }
    if workspace.suspended {
        return Err(ApiError::WorkspaceSuspended);
    }
    if !workspace.plan.includes_api() {
        return Err(ApiError::PlanRequired(format!(
            "the {} plan does not include the REST API; it needs the starter plan or higher",
            workspace.plan
        )));
    }
    Ok(Caller {
        workspace,
        token: credentials.token,
    })
}

/// Handlers take the caller the gate authenticated.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!("A route that needs a caller is not behind the gate");
            ApiError::Internal
        })
    }
}
