//! Which event a change produces and what its data holds. Backends call these inside the
//! transaction that makes the change, so every backend emits the same envelopes.

use serde_json::json;

use crate::event::{EventType, NewEvent, ResourceRef};
use crate::model::{Activity, ActivityType, Lead, Message};

fn lead_ref(lead: &Lead) -> ResourceRef {
    ResourceRef {
        kind: "lead",
        id: lead.id.clone(),
        url: format!("/api/v1/leads/{}", lead.id),
    }
}

/// `lead.replied`: the lead as it is after the reply, and the message.
pub fn reply_event(workspace_id: &str, lead: &Lead, message: &Message) -> NewEvent {
    let data = json!({ "lead": lead, "message": message });
    NewEvent::new(
        workspace_id,
        EventType::LeadReplied,
        message.created_at,
        &data,
        lead_ref(lead),
    )
}

/// `lead.connected` or `lead.opened`: the lead and the activity.
pub fn activity_event(workspace_id: &str, lead: &Lead, activity: &Activity) -> NewEvent {
    let event_type = match activity.kind {
        ActivityType::Connected => EventType::LeadConnected,
        ActivityType::Opened => EventType::LeadOpened,
    };
    let data = json!({ "lead": lead, "activity": activity });
    NewEvent::new(
        workspace_id,
        event_type,
        activity.created_at,
        &data,
        lead_ref(lead),
    )
}
