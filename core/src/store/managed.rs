//! What the operator needs beyond the REST API's calls: workspaces owned by a Kubernetes
//! resource, settings that change without an event, tokens found by their public id
//! whatever their state, endpoints changed in place, and the marks that tell the REST API
//! a token or an endpoint belongs to a resource.

use async_trait::async_trait;

use super::Result;
use crate::event::EventType;
use crate::model::{ApiToken, EndpointFormat, LimitOverrides, WebhookEndpoint, Workspace};
use crate::plan::Plan;

/// The settings of a workspace that change without an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// Per-seat tokens; only agency workspaces have seats.
    pub seats: Option<u32>,
    pub limits: LimitOverrides,
    pub suspended: bool,
}

/// An endpoint's new state. `disabled: None` leaves the flag as it is, so that a
/// reconcile does not undo what a delivery (a 410) decided; `Some(false)` re-enables it
/// and clears the reason.
#[derive(Debug, Clone)]
pub struct EndpointUpdate {
    pub url: String,
    pub events: Vec<EventType>,
    pub format: EndpointFormat,
    pub disabled: Option<bool>,
    /// A new sealed secret, when the signing secret changed.
    pub sealed_secret: Option<String>,
}

#[async_trait]
pub trait ManagedStore: Send + Sync + 'static {
    /// The workspace that the resource with this uid created.
    async fn managed_workspace(&self, owner_uid: &str) -> Result<Option<Workspace>>;
    /// Creates a workspace owned by the resource with this uid and records
    /// `subscription.created`. A name another workspace has is a conflict.
    async fn create_managed_workspace(
        &self,
        owner_uid: &str,
        name: &str,
        plan: Plan,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace>;
    /// Sets seats, limit overrides and suspension; none of them is an event.
    async fn update_workspace_settings(
        &self,
        workspace_id: &str,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace>;
    /// The token with this public id, revoked and expired ones included.
    async fn token_by_public_id(&self, public_id: &str) -> Result<Option<ApiToken>>;
    /// Marks a token as declared by `owner` (`ApiToken <namespace>/<name>`).
    async fn set_token_owner(&self, workspace_id: &str, token_id: &str, owner: &str) -> Result<()>;
    /// Marks an endpoint as declared by `owner` (`WebhookEndpoint <namespace>/<name>`).
    async fn set_endpoint_owner(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        owner: &str,
    ) -> Result<()>;
    /// Changes an endpoint that is not deleted.
    async fn update_endpoint(
        &self,
        workspace_id: &str,
        id: &str,
        update: &EndpointUpdate,
    ) -> Result<WebhookEndpoint>;
}
