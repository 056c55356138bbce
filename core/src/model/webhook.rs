use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;
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
    pub format: EndpointFormat,
    pub disabled: bool,
    /// Why the endpoint was disabled, such as `gone` after a 410.
    pub disabled_reason: Option<String>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The Kubernetes resource that declares it (`WebhookEndpoint <namespace>/<name>`),
    /// when the operator made it; such an endpoint is changed with kubectl, not over the API.
    pub managed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub events: Vec<EventType>,
    #[serde(default)]
    pub description: Option<String>,
    /// Detected from the URL when absent.
    #[serde(default)]
    pub format: Option<EndpointFormat>,
}

/// The body an endpoint receives: the signed event envelope, or the event rendered as a
/// chat message that a Slack or Discord incoming webhook accepts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EndpointFormat {
    #[default]
    Json,
    Slack,
    Discord,
}

impl EndpointFormat {
    pub const ALL: [EndpointFormat; 3] = [
        EndpointFormat::Json,
        EndpointFormat::Slack,
        EndpointFormat::Discord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndpointFormat::Json => "json",
            EndpointFormat::Slack => "slack",
            EndpointFormat::Discord => "discord",
        }
    }

    /// The format an incoming-webhook URL of Slack or Discord calls for; `json` for any
    /// other URL.
    pub fn detect(url: &Url) -> EndpointFormat {
        if url.scheme() != "https" {
            return EndpointFormat::Json;
        }
        let host = url.host_str().unwrap_or_default().trim_end_matches('.');
        let path = url.path();
        let discord_host = matches!(
            host,
            "discord.com"
                | "discordapp.com"
                | "ptb.discord.com"
                | "canary.discord.com"
                | "ptb.discordapp.com"
                | "canary.discordapp.com"
        );
        if host == "hooks.slack.com" && path.starts_with("/services/") {
            EndpointFormat::Slack
        } else if discord_host && is_discord_webhook_path(path) {
            EndpointFormat::Discord
        } else {
            EndpointFormat::Json
        }
    }

    /// Whether deliveries are chat messages rather than the signed envelope.
    pub fn is_chat(self) -> bool {
        self != EndpointFormat::Json
    }
}

/// `/api/webhooks/…`, or with an API version such as `/api/v10/webhooks/…`.
fn is_discord_webhook_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/") else {
        return false;
    };
    let rest = match rest.split_once('/') {
        Some((version, tail))
            if version.len() > 1
                && version.starts_with('v')
                && version[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            tail
        }
        _ => rest,
    };
    rest.starts_with("webhooks/")
}

// Read as a string, so that a value of the wrong type (`"format": 1`) is refused as a bad
// `format` rather than as malformed JSON, which serde_json reports for a non-string enum.
impl<'de> Deserialize<'de> for EndpointFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;

        impl serde::de::Visitor<'_> for Name {
            type Value = EndpointFormat;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of `json`, `slack`, `discord`")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                EndpointFormat::ALL
                    .into_iter()
                    .find(|format| format.as_str() == text)
                    .ok_or_else(|| E::unknown_variant(text, &["json", "slack", "discord"]))
            }
        }

        deserializer.deserialize_str(Name)
    }
}

impl fmt::Display for EndpointFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

    /// The format asked for, or the one the URL calls for.
    pub fn resolved_format(&self) -> EndpointFormat {
        self.format.unwrap_or_else(|| {
            Url::parse(&self.url).map_or(EndpointFormat::Json, |url| EndpointFormat::detect(&url))
        })
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
    /// A chat service asked to slow down; the same attempt is made again when it allows.
    RateLimited,
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

    fn detected(url: &str) -> EndpointFormat {
        EndpointFormat::detect(&Url::parse(url).unwrap())
    }

    #[test]
    fn slack_and_discord_webhook_urls_are_recognised() {
        let slack = "https://hooks.slack.com/services/T000/B000/XXXX";
        assert_eq!(detected(slack), EndpointFormat::Slack);
        assert_eq!(
            detected("https://HOOKS.SLACK.COM./services/T0/B0/x"),
            EndpointFormat::Slack
        );
        for discord in [
            "https://discord.com/api/webhooks/123/abc",
            "https://discordapp.com/api/webhooks/123/abc",
            "https://canary.discord.com/api/webhooks/123/abc?thread_id=9",
            "https://discord.com/api/v10/webhooks/123/abc",
        ] {
            assert_eq!(detected(discord), EndpointFormat::Discord, "{discord}");
        }
    }

    #[test]
    fn other_urls_including_look_alikes_get_the_json_envelope() {
        for url in [
            "https://example.com/hooks",
            "http://hooks.slack.com/services/T0/B0/x",
            "https://hooks.slack.com.evil.example/services/T0/B0/x",
            "https://evilhooks.slack.com/services/T0/B0/x",
            "https://hooks.slack.com/workflows/T0/A0/1/x",
            "https://discord.com/channels/1/2",
            "https://discord.com/api/vx/webhooks/1/a",
            "https://notdiscord.com/api/webhooks/1/a",
            "https://example.com/api/webhooks/1/a",
        ] {
            assert_eq!(detected(url), EndpointFormat::Json, "{url}");
        }
    }

    #[test]
    fn an_explicit_format_wins_over_the_url() {
        let endpoint = |value| serde_json::from_value::<NewWebhookEndpoint>(value).unwrap();
        let detected = endpoint(json!({
            "url": "https://hooks.slack.com/services/T0/B0/x", "events": ["lead.replied"]
        }));
        assert_eq!(detected.resolved_format(), EndpointFormat::Slack);
        let explicit = endpoint(json!({
            "url": "https://hooks.slack.com/services/T0/B0/x",
            "events": ["lead.replied"],
            "format": "json"
        }));
        assert_eq!(explicit.resolved_format(), EndpointFormat::Json);
        let relay = endpoint(json!({
            "url": "https://chat.example.com/hooks/abc",
            "events": ["lead.replied"],
            "format": "discord"
        }));
        assert_eq!(relay.resolved_format(), EndpointFormat::Discord);
        let error = serde_json::from_value::<NewWebhookEndpoint>(json!({
            "url": "https://example.com", "events": ["lead.replied"], "format": "teams"
        }))
        .unwrap_err();
        assert!(error.to_string().contains("teams"), "{error}");
    }
}
