//! The `spec` and `status` of each resource, as they appear in YAML.

use serde::{Deserialize, Serialize};
use socialscalr_core::event::EventType;
use socialscalr_core::plan::Plan;

pub const GROUP: &str = "socialscalr.com";
pub const VERSION: &str = "v1alpha1";

/// A tenant: its plan, seats, members and limit overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    pub display_name: String,
    pub plan: Plan,
    /// Per-seat tokens an agency workspace may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitOverrides>,
    #[serde(default)]
    pub suspended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Limits that replace the plan's for one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_events_per_minute: Option<u32>,
}

/// An API token of a workspace, kept in a Secret of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiTokenSpec {
    pub workspace_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// RFC 3339 time after which the token stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Bumping it issues a new token; the old one works for a grace period.
    #[serde(default)]
    pub rotation_generation: u32,
}

/// A webhook endpoint of a workspace; its signing secret lives in a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEndpointSpec {
    pub workspace_ref: String,
    pub url: String,
    pub events: Vec<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<EndpointFormat>,
    #[serde(default)]
    pub disabled: bool,
    /// A Secret holding a signing secret of the user's own, under the key `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointFormat {
    Json,
    Slack,
    Discord,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn specs_read_the_yaml_field_names() {
        let workspace: WorkspaceSpec = serde_json::from_value(json!({
            "displayName": "Acme Agency",
            "plan": "agency",
            "seats": 10,
            "members": [{"email": "ana@acme.test", "role": "admin"}],
            "limits": {"requestsPerMinute": 1200}
        }))
        .unwrap();
        assert_eq!(workspace.plan, Plan::Agency);
        assert_eq!(workspace.limits.unwrap().requests_per_minute, Some(1200));

        let endpoint: WebhookEndpointSpec = serde_json::from_value(json!({
            "workspaceRef": "acme",
            "url": "https://hooks.acme.test/in",
            "events": ["lead.replied", "campaign.completed"],
            "format": "slack"
        }))
        .unwrap();
        assert_eq!(
            endpoint.events,
            vec![EventType::LeadReplied, EventType::CampaignCompleted]
        );

        let unknown = serde_json::from_value::<ApiTokenSpec>(json!({"workspaceRef": "a", "x": 1}));
        assert!(unknown.is_err());
    }
}
