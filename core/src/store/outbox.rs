//! Which event a change produces and what its data holds. Backends call these inside the
//! transaction that makes the change, so every backend emits the same envelopes.

use serde_json::json;

use crate::event::{EventType, NewEvent, ResourceRef};
use crate::model::{Activity, ActivityType, Campaign, CompletionReason, Lead, Message, Post};

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

fn post_ref(post: &Post) -> ResourceRef {
    ResourceRef {
        kind: "post",
        id: post.id.clone(),
        url: format!("/api/v1/posts/{}", post.id),
    }
}

/// `post.published`: the post as it is after publishing, with its `linkedin_url`.
pub fn post_published_event(workspace_id: &str, post: &Post) -> NewEvent {
    let data = json!({ "post": post });
    NewEvent::new(
        workspace_id,
        EventType::PostPublished,
        post.updated_at,
        &data,
        post_ref(post),
    )
}

/// `post.failed`: the failed post, and why at the top level so receivers can route on it.
pub fn post_failed_event(workspace_id: &str, post: &Post) -> NewEvent {
    let data = json!({
        "post": post,
        "reason": post.failure_reason,
        "detail": post.failure_detail,
    });
    NewEvent::new(
        workspace_id,
        EventType::PostFailed,
        post.updated_at,
        &data,
        post_ref(post),
    )
}

/// `campaign.completed`: the completed campaign, why, and how many leads it holds.
pub fn campaign_completed_event(
    workspace_id: &str,
    campaign: &Campaign,
    reason: CompletionReason,
    leads: u64,
) -> NewEvent {
    let data = json!({ "campaign": campaign, "reason": reason, "leads": leads });
    let resource = ResourceRef {
        kind: "campaign",
        id: campaign.id.clone(),
        url: format!("/api/v1/campaigns/{}", campaign.id),
    };
    let at = campaign.completed_at.unwrap_or(campaign.created_at);
    NewEvent::new(
        workspace_id,
        EventType::CampaignCompleted,
        at,
        &data,
        resource,
    )
}
