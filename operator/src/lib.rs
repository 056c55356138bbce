//! The socialscalr operator: the tenancy custom resources of group `socialscalr.com`
//! (Workspace, ApiToken, WebhookEndpoint) and the controllers that reconcile them into
//! the store, Secrets and ConfigMaps. One replica leads through a Lease; the others stand
//! by.

pub mod apitoken;
pub mod context;
pub mod endpoint;
pub mod error;
pub mod metrics;
pub mod owned;
pub mod resources;
pub mod run;
pub mod status;
pub mod tokens;
pub mod workspace;
