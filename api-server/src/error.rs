//! One error type for the API, turned into a status and `{"error": {...}}` in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use socialscalr_core::model::FieldError;
use socialscalr_core::store::StoreError;

use crate::openapi::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    PlanRequired(String),
    #[error("this call needs a token with the `{0}` scope")]
    ScopeRequired(socialscalr_core::model::Scope),
    #[error(
        "the workspace's limit of {limit} requests per minute is spent; retry in {retry_after} s"
    )]
    RateLimited { limit: u32, retry_after: u64 },
    #[error("{0}")]
    IdempotencyConflict(&'static str),
    #[error("the workspace's subscription is cancelled; its API tokens no longer work")]
    WorkspaceCancelled,
    #[error("the workspace is suspended; its API tokens work again once it is lifted")]
    WorkspaceSuspended,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route for this path")]
    NoRoute,
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    MalformedJson(String),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    Conflict(String),
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("the store is unavailable; try again shortly")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Refuses a change over the API to a row a Kubernetes resource declares: the operator
    /// would put it back, so the resource is where it changes.
    pub fn refuse_managed(what: &str, id: &str, managed_by: Option<&str>) -> Result<(), ApiError> {
        match managed_by {
            Some(owner) => Err(ApiError::Conflict(format!(
                "{what} {id} is managed by the Kubernetes resource {owner}; \
                 change or delete that resource instead"
            ))),
            None => Ok(()),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::PlanRequired(_) => (StatusCode::FORBIDDEN, "plan_required"),
            ApiError::ScopeRequired(_) => (StatusCode::FORBIDDEN, "scope_required"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::IdempotencyConflict(_) => (StatusCode::CONFLICT, "idempotency_conflict"),
            ApiError::WorkspaceCancelled => (StatusCode::FORBIDDEN, "workspace_cancelled"),
            ApiError::WorkspaceSuspended => (StatusCode::FORBIDDEN, "workspace_suspended"),
            ApiError::NotFound(_) | ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::Invalid {
            field: error.field,
            message: error.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Invalid(field) => field.into(),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            error if error.is_unavailable() => {
                tracing::warn!(%error, "Store unavailable");
                ApiError::Unavailable
            }
            StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Corrupt(_) => {
                tracing::error!(%error, "Store operation failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let field = match &self {
            ApiError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let message = match &self {
            ApiError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}
