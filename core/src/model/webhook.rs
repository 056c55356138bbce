use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, check_optional_text};
use crate::event::EventType;
use crate::target::TargetPolicy;
use crate::time::{Timestamp, serde_rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<EventType>,
    pub disabled: bool,
    /// Why the endpoint was disabled, such as `gone` after a 410.
    pub disabled_reason: Option<String>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub events: Vec<EventType>,
    #[serde(default)]
    pub description: Option<String>,
}

impl NewWebhookEndpoint {
    pub fn validate(&self, policy: &TargetPolicy) -> Result<(), FieldError> {
        let url = super::check_http_url("url", &self.url)?;
        policy
            .check_url(&url)
            .map_err(|e| FieldError::new("url", e.to_string()))?;
        if self.events.is_empty() {
            return Err(FieldError::new(
                "events",
                "must name at least one event type",
            ));
        }
        check_optional_text("description", self.description.as_deref(), 500)
    }

    /// The subscribed events, each once, in a stable order.
    pub fn event_set(&self) -> Vec<EventType> {
        self.events
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// One attempt to deliver an event to an endpoint, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// The `X-SocialScalr-Delivery-Id` sent with this attempt.
    pub delivery_id: String,
    pub event: EventType,
    pub event_id: String,
    pub attempt: u32,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub succeeded: bool,
    /// What followed the attempt.
    pub outcome: AttemptOutcome,
    /// When the next attempt is due, if this one failed and another follows.
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_retry_at: Option<Timestamp>,
}

/// What followed a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    /// It failed and another attempt is scheduled.
    RetryScheduled,
    /// It failed and was the last: the delivery is failed for good.
    Failed,
    /// The receiver answered 410: the endpoint was disabled.
    EndpointGone,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_event_types_are_refused_when_parsing() {
        let error = serde_json::from_value::<NewWebhookEndpoint>(
            json!({"url": "https://example.com", "events": ["lead.exploded"]}),
        )
        .unwrap_err();
        assert!(error.to_string().contains("lead.exploded"), "{error}");
    }

    #[test]
    fn endpoints_need_events_and_an_allowed_url() {
        let policy = TargetPolicy::default();
        let endpoint = |value| serde_json::from_value::<NewWebhookEndpoint>(value).unwrap();
        let none = endpoint(json!({"url": "https://example.com/in", "events": []}));
        assert_eq!(none.validate(&policy).unwrap_err().field, "events");
        let private = endpoint(json!({"url": "http://10.0.0.7/in", "events": ["lead.replied"]}));
        assert_eq!(private.validate(&policy).unwrap_err().field, "url");
        let fine = endpoint(json!({
            "url": "https://example.com/in",
            "events": ["lead.replied", "lead.connected", "lead.replied"]
        }));
        assert_eq!(fine.validate(&policy), Ok(()));
        assert_eq!(
            fine.event_set(),
            vec![EventType::LeadConnected, EventType::LeadReplied]
        );
    }
}
