//! Event types and the envelope every delivery carries. The envelope is serialized once,
//! when the event is recorded; those exact bytes are signed and sent on every attempt.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::time::{Timestamp, rfc3339};

/// Envelopes larger than this carry a reference to the resource instead of its data.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum EventType {
    #[serde(rename = "lead.connected")]
    LeadConnected,
    #[serde(rename = "lead.replied")]
    LeadReplied,
    #[serde(rename = "lead.opened")]
    LeadOpened,
    #[serde(rename = "campaign.completed")]
    CampaignCompleted,
    #[serde(rename = "post.published")]
    PostPublished,
    #[serde(rename = "post.failed")]
    PostFailed,
    #[serde(rename = "watchtower.alert")]
    WatchtowerAlert,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.cancelled")]
    SubscriptionCancelled,
    #[serde(rename = "team.member_added")]
    TeamMemberAdded,
    #[serde(rename = "team.member_removed")]
    TeamMemberRemoved,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::LeadConnected,
        EventType::LeadReplied,
        EventType::LeadOpened,
        EventType::CampaignCompleted,
        EventType::PostPublished,
        EventType::PostFailed,
        EventType::WatchtowerAlert,
        EventType::SubscriptionCreated,
        EventType::SubscriptionCancelled,
        EventType::TeamMemberAdded,
        EventType::TeamMemberRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadConnected => "lead.connected",
            EventType::LeadReplied => "lead.replied",
            EventType::LeadOpened => "lead.opened",
            EventType::CampaignCompleted => "campaign.completed",
            EventType::PostPublished => "post.published",
            EventType::PostFailed => "post.failed",
            EventType::WatchtowerAlert => "watchtower.alert",
            EventType::SubscriptionCreated => "subscription.created",
            EventType::SubscriptionCancelled => "subscription.cancelled",
            EventType::TeamMemberAdded => "team.member_added",
            EventType::TeamMemberRemoved => "team.member_removed",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|event| event.as_str() == text)
            .ok_or_else(|| UnknownEventType(text.to_owned()))
    }
}

/// The resource an event is about, named in place of data that is too large to send.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    /// Where an integrator fetches it with their API token.
    pub url: String,
}

/// An event ready to be recorded: its id, type, time and the exact envelope bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub workspace_id: String,
    pub event_type: EventType,
    pub created_at: Timestamp,
    pub payload: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    event: EventType,
    id: &'a str,
    workspace_id: &'a str,
    created_at: String,
    data: &'a Value,
}

impl NewEvent {
    /// Builds the envelope `{"event","id","workspace_id","created_at","data"}`. Data that
    /// would make it larger than [`MAX_ENVELOPE_BYTES`] is replaced by `resource`.
    pub fn new(
        workspace_id: &str,
        event_type: EventType,
        created_at: Timestamp,
        data: &Value,
        resource: ResourceRef,
    ) -> Self {
        let id = crate::ids::new_id(crate::ids::EVENT);
        let envelope = |data: &Value| {
            let envelope = Envelope {
                event: event_type,
                id: &id,
                workspace_id,
                created_at: rfc3339(created_at),
                data,
            };
            serde_json::to_string(&envelope).expect("an envelope of JSON values serializes")
        };
        let mut payload = envelope(data);
        if payload.len() > MAX_ENVELOPE_BYTES {
            let reference = serde_json::json!({ "truncated": true, "resource": resource });
            payload = envelope(&reference);
        }
        Self {
            id,
            workspace_id: workspace_id.to_owned(),
            event_type,
            created_at,
            payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::time::from_micros;

    fn lead_ref() -> ResourceRef {
        ResourceRef {
            kind: "lead",
            id: "ld_1".into(),
            url: "/api/v1/leads/ld_1".into(),
        }
    }

    #[test]
    fn event_types_round_trip_through_their_names() {
        for event in EventType::ALL {
            assert_eq!(event.as_str().parse::<EventType>().unwrap(), event);
            assert_eq!(serde_json::to_value(event).unwrap(), json!(event.as_str()));
        }
        assert!("lead.exploded".parse::<EventType>().is_err());
    }

    #[test]
    fn envelope_has_the_documented_fields_in_order_without_trailing_newline() {
        let at = from_micros(1_779_636_731_000_000);
        let data = json!({"lead": {"id": "ld_1", "name": "Sarah Chen"}});
        let event = NewEvent::new("ws_1", EventType::LeadReplied, at, &data, lead_ref());
        let expected = [
            r#"{"event":"lead.replied","id":""#,
            &event.id,
            r#"","workspace_id":"ws_1","created_at":"2026-05-24T15:32:11Z","#,
            r#""data":{"lead":{"id":"ld_1","name":"Sarah Chen"}}}"#,
        ]
        .concat();
        assert_eq!(event.payload, expected);
        assert!(event.id.starts_with("evt_"));
    }

    #[test]
    fn oversized_data_is_replaced_by_a_reference() {
        let at = from_micros(0);
        let data = json!({"text": "x".repeat(MAX_ENVELOPE_BYTES)});
        let event = NewEvent::new("ws_1", EventType::LeadReplied, at, &data, lead_ref());
        assert!(event.payload.len() < 1_024);
        let parsed: Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(parsed["data"]["truncated"], json!(true));
        assert_eq!(parsed["data"]["resource"]["id"], json!("ld_1"));
        assert_eq!(
            parsed["data"]["resource"]["url"],
            json!("/api/v1/leads/ld_1")
        );
    }
}
