//! Which event a subscription, membership or Watchtower change produces and what its data
//! holds, beside the lead events of `outbox.rs`. Backends call these inside the transaction
//! that makes the change, so every backend emits the same envelopes.

use serde_json::json;

use crate::event::{EventType, NewEvent, ResourceRef};
use crate::model::{Lead, Member, Signal, Workspace};
use crate::plan::Plan;
use crate::time::Timestamp;

/// Where the workspace, its plan and its members are read with one of its tokens.
fn workspace_ref(workspace: &Workspace) -> ResourceRef {
    ResourceRef {
        kind: "workspace",
        id: workspace.id.clone(),
        url: "/api/v1/workspace".to_owned(),
    }
}

/// `subscription.created`: the workspace as it is on its new plan, and the plan it had
/// before (`null` for a new workspace), so that an upgrade reads as one event.
pub fn subscription_created_event(
    workspace: &Workspace,
    previous_plan: Option<Plan>,
    at: Timestamp,
) -> NewEvent {
    let data = json!({ "workspace": workspace, "previous_plan": previous_plan });
    NewEvent::new(
        &workspace.id,
        EventType::SubscriptionCreated,
        at,
        &data,
        workspace_ref(workspace),
    )
}

/// `subscription.cancelled`: the workspace with its `cancelled_at`.
pub fn subscription_cancelled_event(workspace: &Workspace, at: Timestamp) -> NewEvent {
    let data = json!({ "workspace": workspace });
    NewEvent::new(
        &workspace.id,
        EventType::SubscriptionCancelled,
        at,
        &data,
        workspace_ref(workspace),
    )
}

/// `team.member_added` or `team.member_removed`: the member and the workspace.
pub fn member_event(
    workspace: &Workspace,
    member: &Member,
    event_type: EventType,
    at: Timestamp,
) -> NewEvent {
    debug_assert!(matches!(
        event_type,
        EventType::TeamMemberAdded | EventType::TeamMemberRemoved
    ));
    let data = json!({ "member": member, "workspace": workspace });
    NewEvent::new(
        &workspace.id,
        event_type,
        at,
        &data,
        workspace_ref(workspace),
    )
}

/// `watchtower.alert`: the signal, and the lead it is about or `null`.
pub fn watchtower_alert_event(
    workspace_id: &str,
    signal: &Signal,
    lead: Option<&Lead>,
) -> NewEvent {
    let data = json!({ "signal": signal, "lead": lead });
    let resource = ResourceRef {
        kind: "signal",
        id: signal.id.clone(),
        url: format!("/api/v1/watchtower/signals/{}", signal.id),
    };
    NewEvent::new(
        workspace_id,
        EventType::WatchtowerAlert,
        signal.created_at,
        &data,
        resource,
    )
}
