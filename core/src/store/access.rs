//! Who may call the API and what they did: tokens, the audit log, idempotency keys.

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Page, PageRequest, Result};
use crate::model::{ApiToken, NewToken, TokenCredentials};
use crate::time::{Timestamp, serde_rfc3339};
use crate::token::IssuedToken;

#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Issues a token. A seat token of an agency workspace counts against its seats:
    /// more active seat tokens than seats is a conflict.
    async fn create_token(
        &self,
        workspace_id: &str,
        new: &NewToken,
        issued: &IssuedToken,
    ) -> Result<ApiToken>;
    async fn get_token(&self, workspace_id: &str, id: &str) -> Result<Option<ApiToken>>;
    async fn list_tokens(&self, workspace_id: &str, page: &PageRequest) -> Result<Page<ApiToken>>;
    /// Issues a successor with the same name, scopes and seat; the rotated token keeps
    /// working until `grace_until` (or its own earlier expiry).
    async fn rotate_token(
        &self,
        workspace_id: &str,
        id: &str,
        issued: &IssuedToken,
        grace_until: Timestamp,
    ) -> Result<ApiToken>;
    /// Revokes at once; false when there was no such active token.
    async fn revoke_token(&self, workspace_id: &str, id: &str) -> Result<bool>;
    /// The active (not revoked, not expired at `now`) token with this public id.
    async fn token_credentials(
        &self,
        public_id: &str,
        now: Timestamp,
    ) -> Result<Option<TokenCredentials>>;
}

/// One API call, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[serde(skip)]
    pub workspace_id: String,
    pub token_id: String,
    pub token_name: String,
    pub seat: Option<String>,
    pub method: String,
    /// The route template, such as `/api/v1/leads/{id}`.
    pub route: String,
    pub path: String,
    pub status: u16,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub token_id: Option<String>,
    pub seat: Option<String>,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    async fn record_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    async fn list_audit(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>>;
}

/// What a POST with an `Idempotency-Key` may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use of the key: run the request, then complete or release the key.
    Fresh,
    /// The key's first request answered this; answer it again.
    Replay { status: u16, body: Vec<u8> },
    /// The key's first request is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// How long a key's first request may run before the key counts as abandoned (its
/// process died, or could not record the answer) and a retry may take it over. Requests
/// are bounded well within this: 30 s to read the body, and the store's own timeouts.
pub const IDEMPOTENCY_IN_PROGRESS_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Takes the key for a request with this fingerprint. Keys older than `expired_before`
    /// are forgotten and may be reused, and so are keys whose request has been in progress
    /// for longer than [`IDEMPOTENCY_IN_PROGRESS_LIMIT`].
    async fn claim_idempotency_key(
        &self,
        workspace_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyClaim>;
    async fn complete_idempotency_key(
        &self,
        workspace_id: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<()>;
    /// Frees a key whose request failed in a way worth retrying.
    async fn release_idempotency_key(&self, workspace_id: &str, key: &str) -> Result<()>;
}
