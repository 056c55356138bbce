//! The behaviour every store backend owes the rest of the platform. Each case runs against
//! every backend through the `conformance!` macro at the bottom.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socialscalr_core::event::EventType;
use socialscalr_core::ids;
use socialscalr_core::model::{
    EndpointFormat, LeadPatch, LimitOverrides, NewActivity, NewCampaign, NewLead, NewMember,
    NewMessage, NewSignal, NewToken, Role, Scope, Stage,
};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{
    AttemptRecord, AttemptResult, AuditEntry, AuditFilter, ClaimRequest, ClaimedDelivery,
    EndpointUpdate, IdempotencyClaim, LeadFilter, NewEndpointRow, PageRequest, SignalFilter, Store,
    StoreError, WorkspaceSettings,
};
use socialscalr_core::time::{self, Timestamp};
use socialscalr_core::token;

fn lead(value: Value) -> NewLead {
    serde_json::from_value(value).expect("a valid lead body")
}

fn message(direction: &str, text: &str) -> NewMessage {
    serde_json::from_value(json!({"direction": direction, "text": text})).unwrap()
}

fn activity(kind: &str) -> NewActivity {
    serde_json::from_value(json!({"type": kind})).unwrap()
}

fn page(limit: u32) -> PageRequest {
    PageRequest { limit, after: None }
}

async fn workspace(store: &dyn Store, name: &str) -> String {
    store.create_workspace(name, Plan::Pro).await.unwrap().id
}

async fn endpoint(store: &dyn Store, workspace_id: &str, events: &[EventType]) -> String {
    formatted_endpoint(store, workspace_id, events, EndpointFormat::Json).await
}

async fn formatted_endpoint(
    store: &dyn Store,
    workspace_id: &str,
    events: &[EventType],
    format: EndpointFormat,
) -> String {
    let id = ids::new_id(ids::ENDPOINT);
    let row = NewEndpointRow {
        id: id.clone(),
        url: "http://127.0.0.1:9/hook".into(),
        description: None,
        events: events.to_vec(),
        format,
        sealed_secret: "v1:sealed".into(),
    };
    store.create_endpoint(workspace_id, &row).await.unwrap();
    id
}

async fn claim_all(store: &dyn Store, worker: &str, at: Timestamp) -> Vec<ClaimedDelivery> {
    let request = ClaimRequest {
        worker,
        now: at,
        lease: Duration::from_secs(60),
        limit: 1_000,
        per_endpoint: 1_000,
        per_workspace: 1_000,
        skip_endpoints: &[],
        skip_workspaces: &[],
    };
    store.claim_deliveries(&request).await.unwrap()
}

fn record(delivery: &ClaimedDelivery, result: AttemptResult, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        delivery_id: delivery.delivery_id.clone(),
        workspace_id: delivery.workspace_id.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        event_id: delivery.event_id.clone(),
        event_type: delivery.event_type,
        attempt_id: ids::new_id(ids::ATTEMPT),
        attempt: delivery.attempt,
        attempted_at: time::now(),
        duration: Duration::from_millis(12),
        status_code: status,
        error: status
            .filter(|s| *s >= 300)
            .map(|s| format!("receiver answered {s}")),
        response_excerpt: Some("body".into()),
        result,
    }
}

fn later(seconds: i64) -> Timestamp {
    time::now() + chrono::Duration::seconds(seconds)
}

fn signal(value: Value) -> NewSignal {
    serde_json::from_value(value).expect("a valid signal body")
}

fn member(email: &str, role: Role) -> NewMember {
    NewMember {
        email: email.into(),
        role,
    }
}

fn envelope(delivery: &ClaimedDelivery) -> Value {
    serde_json::from_str(&delivery.payload).expect("payloads are JSON")
}

/// The deliveries due now, oldest event first.
async fn claim_in_order(store: &dyn Store) -> Vec<ClaimedDelivery> {
    let mut claimed = claim_all(store, "w1", later(1)).await;
    claimed.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    claimed
}

mod cases {
    pub use super::posts_and_campaigns::*;
    use super::*;

    pub async fn workspaces_have_unique_names_and_are_found_by_name_or_id(store: &dyn Store) {
        let created = store.create_workspace("acme", Plan::Starter).await.unwrap();
        assert!(created.id.starts_with("ws_"));
        let duplicate = store.create_workspace("acme", Plan::Pro).await;
        assert!(
            matches!(duplicate, Err(StoreError::Conflict(_))),
            "{duplicate:?}"
        );
        let invalid = store.create_workspace("Not A Slug", Plan::Pro).await;
        assert!(
            matches!(invalid, Err(StoreError::Invalid(_))),
            "{invalid:?}"
        );
        assert_eq!(
            store.find_workspace("acme").await.unwrap(),
            Some(created.clone())
        );
        assert_eq!(
            store.find_workspace(&created.id).await.unwrap(),
            Some(created)
        );
        assert_eq!(store.find_workspace("nobody").await.unwrap(), None);
        assert_eq!(store.workspace_count().await.unwrap(), 1);
    }

    pub async fn tokens_are_stored_as_hashes_and_resolve_to_their_workspace(store: &dyn Store) {
        let workspace_id = workspace(store, "acme").await;
        let issued = token::issue();
        let new = NewToken {
            scopes: vec![Scope::Admin],
            ..NewToken::named("ci")
        };
        let created = store
            .create_token(&workspace_id, &new, &issued)
            .await
            .unwrap();
        assert_eq!(created.prefix, format!("ssk_{}", issued.public_id));
        assert_eq!(created.scopes, vec![Scope::Admin]);
        let found = store
            .token_credentials(&issued.public_id, time::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.workspace.id, workspace_id);
        assert_eq!(found.workspace.plan, Plan::Pro);
        assert_eq!(found.token, created);
        assert_ne!(found.secret_hash, issued.token);
        let presented = token::parse(&issued.token).unwrap();
        assert!(presented.matches(&found.secret_hash));
        assert!(
            store
                .token_credentials("000000000000", time::now())
                .await
                .unwrap()
                .is_none()
        );
        let missing = store
            .create_token(
                "ws_01J00000000000000000000000",
                &NewToken::named("x"),
                &token::issue(),
            )
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound("workspace"))),
            "{missing:?}"
        );
    }

    pub async fn rotated_tokens_work_until_the_grace_ends_and_revoked_ones_stop(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let old = token::issue();
        let created = store
            .create_token(&ws, &NewToken::named("crm"), &old)
            .await
            .unwrap();
        let new = token::issue();
        let successor = store
            .rotate_token(&ws, &created.id, &new, later(3_600))
            .await
            .unwrap();
        assert_eq!(
            (successor.name.as_str(), &successor.scopes),
            ("crm", &created.scopes)
        );
        let rotated = store.get_token(&ws, &created.id).await.unwrap().unwrap();
        assert_eq!(rotated.replaced_by.as_deref(), Some(successor.id.as_str()));

        let within_grace = store
            .token_credentials(&old.public_id, later(3_000))
            .await
            .unwrap();
        assert!(
            within_grace.is_some(),
            "the old token works during the grace period"
        );
        let after_grace = store
            .token_credentials(&old.public_id, later(3_700))
            .await
            .unwrap();
        assert!(after_grace.is_none(), "and stops after it");
        assert!(
            store
                .token_credentials(&new.public_id, later(3_700))
                .await
                .unwrap()
                .is_some()
        );
        let again = store
            .rotate_token(&ws, &created.id, &token::issue(), later(60))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

        assert!(store.revoke_token(&ws, &successor.id).await.unwrap());
        assert!(
            store
                .token_credentials(&new.public_id, time::now())
                .await
                .unwrap()
                .is_none()
        );
        assert!(!store.revoke_token(&ws, &successor.id).await.unwrap());
        let other = workspace(store, "other").await;
        assert!(!store.revoke_token(&other, &created.id).await.unwrap());
        let listed = store.list_tokens(&ws, &page(10)).await.unwrap().items;
        assert_eq!(listed.len(), 2);
    }

    pub async fn agency_seat_tokens_are_capped_by_seats(store: &dyn Store) {
        let agency = store
            .create_workspace("agency", Plan::Agency)
            .await
            .unwrap();
        assert_eq!(agency.seats, Some(10));
        let seat = |n: usize| NewToken {
            seat: Some(format!("seat-{n}")),
            ..NewToken::named("s")
        };
        for n in 0..10 {
            store
                .create_token(&agency.id, &seat(n), &token::issue())
                .await
                .unwrap();
        }
        // A second token for a seat that already has one takes no new seat.
        store
            .create_token(&agency.id, &seat(3), &token::issue())
            .await
            .unwrap();
        let full = store
            .create_token(&agency.id, &seat(10), &token::issue())
            .await;
        assert!(matches!(full, Err(StoreError::Conflict(_))), "{full:?}");

        let pro = workspace(store, "pro").await;
        let refused = store.create_token(&pro, &seat(0), &token::issue()).await;
        assert!(
            matches!(&refused, Err(StoreError::Invalid(e)) if e.field == "seat"),
            "{refused:?}"
        );
    }

    pub async fn the_audit_log_pages_per_workspace_and_filters_by_token(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let other = workspace(store, "other").await;
        let entry = |workspace_id: &str, token_id: &str, n: u16| AuditEntry {
            id: ids::new_id("aud"),
            workspace_id: workspace_id.to_owned(),
            token_id: token_id.to_owned(),
            token_name: "crm".into(),
            seat: None,
            method: "GET".into(),
            route: "/api/v1/leads".into(),
            path: "/api/v1/leads".into(),
            status: 200 + n,
            at: time::now(),
        };
        let batch: Vec<AuditEntry> = (0..5)
            .map(|n| entry(&ws, if n % 2 == 0 { "tok_a" } else { "tok_b" }, n))
            .chain([entry(&other, "tok_c", 0)])
            .collect();
        store.record_audit(&batch).await.unwrap();
        let all = store
            .list_audit(&ws, &AuditFilter::default(), &page(3))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 3);
        assert_eq!(all.items[0].status, 204, "newest first");
        let rest = PageRequest {
            limit: 3,
            after: all.next_after,
        };
        assert_eq!(
            store
                .list_audit(&ws, &AuditFilter::default(), &rest)
                .await
                .unwrap()
                .items
                .len(),
            2
        );
        let by_token = AuditFilter {
            token_id: Some("tok_b".into()),
            ..Default::default()
        };
        let found = store
            .list_audit(&ws, &by_token, &page(10))
            .await
            .unwrap()
            .items;
        assert_eq!(
            found.iter().map(|e| e.status).collect::<Vec<_>>(),
            vec![203, 201]
        );
    }

    pub async fn idempotency_keys_replay_conflict_and_expire(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let now = time::now();
        let old = now - chrono::Duration::hours(24);
        let ws = ws.as_str();
        let fresh = store
            .claim_idempotency_key(ws, "k1", "f1", now, old)
            .await
            .unwrap();
        assert_eq!(fresh, IdempotencyClaim::Fresh);
        let running = store
            .claim_idempotency_key(ws, "k1", "f1", now, old)
            .await
            .unwrap();
        assert_eq!(running, IdempotencyClaim::InProgress);
        store
            .complete_idempotency_key(ws, "k1", 201, b"{\"id\":1}")
            .await
            .unwrap();
        let replay = store
            .claim_idempotency_key(ws, "k1", "f1", now, old)
            .await
            .unwrap();
        assert_eq!(
            replay,
            IdempotencyClaim::Replay {
                status: 201,
                body: b"{\"id\":1}".to_vec()
            }
        );
        let other_body = store
            .claim_idempotency_key(ws, "k1", "f2", now, old)
            .await
            .unwrap();
        assert_eq!(other_body, IdempotencyClaim::Mismatch);

        let other = workspace(store, "other").await;
        let elsewhere = store
            .claim_idempotency_key(&other, "k1", "f2", now, old)
            .await
            .unwrap();
        assert_eq!(
            elsewhere,
            IdempotencyClaim::Fresh,
            "keys belong to their workspace"
        );

        let tomorrow = now + chrono::Duration::hours(25);
        let expired = store
            .claim_idempotency_key(
                ws,
                "k1",
                "f2",
                tomorrow,
                tomorrow - chrono::Duration::hours(24),
            )
            .await
            .unwrap();
        assert_eq!(
            expired,
            IdempotencyClaim::Fresh,
            "an expired key may be used again"
        );

        store
            .claim_idempotency_key(ws, "k2", "f", now, old)
            .await
            .unwrap();
        store.release_idempotency_key(ws, "k2").await.unwrap();
        let released = store
            .claim_idempotency_key(ws, "k2", "f", now, old)
            .await
            .unwrap();
        assert_eq!(
            released,
            IdempotencyClaim::Fresh,
            "a released key may be retried"
        );
    }

    pub async fn campaigns_are_listed_newest_first_per_workspace(store: &dyn Store) {
        let acme = workspace(store, "acme").await;
        let other = workspace(store, "other").await;
        let new: NewCampaign = serde_json::from_value(json!({
            "name": "Founders",
            "targeting": {"source": "manual"},
            "steps": [{"type": "invite", "text": "Hi"}],
            "target_leads": 10
        }))
        .unwrap();
        let first = store.create_campaign(&acme, &new).await.unwrap();
        let second = store.create_campaign(&acme, &new).await.unwrap();
        store.create_campaign(&other, &new).await.unwrap();
        let listed = store.list_campaigns(&acme, &page(10)).await.unwrap();
        let ids: Vec<&str> = listed.items.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, vec![second.id.as_str(), first.id.as_str()]);
        assert_eq!(
            store.get_campaign(&acme, &first.id).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(store.get_campaign(&other, &first.id).await.unwrap(), None);
    }

    pub async fn leads_filter_by_stage_tag_owner_campaign_and_activity(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let campaign: NewCampaign = serde_json::from_value(json!({
            "name": "C", "targeting": {"source": "manual"}, "steps": [{"type": "invite"}]
        }))
        .unwrap();
        let campaign = store.create_campaign(&ws, &campaign).await.unwrap();
        let tagged = store
            .create_lead(
                &ws,
                &lead(json!({"name": "A", "tags": ["vip", "emea"], "owner": "ana"})),
            )
            .await
            .unwrap();
        let in_campaign = store
            .create_lead(&ws, &lead(json!({"name": "B", "campaign_id": campaign.id})))
            .await
            .unwrap();
        let replied = store
            .create_lead(&ws, &lead(json!({"name": "C"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &replied.lead.id, &message("inbound", "Sure"))
            .await
            .unwrap();

        let ws_ref = ws.as_str();
        let ids = |filter: LeadFilter| async move {
            let found = store.list_leads(ws_ref, &filter, &page(50)).await.unwrap();
            found
                .items
                .into_iter()
                .map(|l| l.lead.id)
                .collect::<Vec<_>>()
        };
        let by_tag = LeadFilter {
            tag: Some("vip".into()),
            ..Default::default()
        };
        assert_eq!(ids(by_tag).await, vec![tagged.lead.id.clone()]);
        let by_owner = LeadFilter {
            owner: Some("ana".into()),
            ..Default::default()
        };
        assert_eq!(ids(by_owner).await, vec![tagged.lead.id.clone()]);
        let by_campaign = LeadFilter {
            campaign_id: Some(campaign.id),
            ..Default::default()
        };
        assert_eq!(ids(by_campaign).await, vec![in_campaign.lead.id.clone()]);
        let by_stage = LeadFilter {
            stage: Some(Stage::Replied),
            ..Default::default()
        };
        assert_eq!(ids(by_stage).await, vec![replied.lead.id.clone()]);
        let recent = LeadFilter {
            active_since: Some(later(-3_600)),
            ..Default::default()
        };
        assert_eq!(ids(recent).await, vec![replied.lead.id.clone()]);
        let future = LeadFilter {
            active_since: Some(later(3_600)),
            ..Default::default()
        };
        assert!(ids(future).await.is_empty());
        let before = LeadFilter {
            active_before: Some(later(-3_600)),
            ..Default::default()
        };
        assert!(ids(before).await.is_empty());

        let unknown_campaign =
            lead(json!({"name": "D", "campaign_id": "cmp_01J00000000000000000000000"}));
        let refused = store.create_lead(&ws, &unknown_campaign).await;
        assert!(
            matches!(&refused, Err(StoreError::Invalid(e)) if e.field == "campaign_id"),
            "{refused:?}"
        );
    }

    pub async fn pages_neither_repeat_nor_skip_while_leads_are_added(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let mut existing = Vec::new();
        for n in 0..25 {
            existing.push(
                store
                    .create_lead(&ws, &lead(json!({"name": format!("L{n}")})))
                    .await
                    .unwrap()
                    .lead
                    .id,
            );
        }
        let mut seen = Vec::new();
        let mut request = page(7);
        loop {
            let found = store
                .list_leads(&ws, &LeadFilter::default(), &request)
                .await
                .unwrap();
            seen.extend(found.items.into_iter().map(|l| l.lead.id));
            // New leads arrive between pages; they sort before the cursor.
            store
                .create_lead(&ws, &lead(json!({"name": "late"})))
                .await
                .unwrap();
            match found.next_after {
                Some(after) => request.after = Some(after),
                None => break,
            }
        }
        existing.reverse();
        assert_eq!(seen, existing);
    }

    pub async fn lead_patches_change_fields_and_append_notes(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let created = store
            .create_lead(
                &ws,
                &lead(
                    json!({"name": "A", "owner": "ana", "tags": ["x"], "custom_fields": {"a": 1}}),
                ),
            )
            .await
            .unwrap();
        let patch: LeadPatch = serde_json::from_value(json!({
            "stage": "interested", "owner": null, "tags": ["y", "z"],
            "custom_fields": {"a": null, "b": "two"}, "note": "Call on Monday"
        }))
        .unwrap();
        let updated = store
            .update_lead(&ws, &created.lead.id, &patch)
            .await
            .unwrap();
        assert_eq!(updated.lead.stage, Stage::Interested);
        assert_eq!(updated.lead.owner, None);
        assert_eq!(updated.lead.tags, vec!["y", "z"]);
        assert_eq!(updated.lead.custom_fields.get("b"), Some(&json!("two")));
        assert!(!updated.lead.custom_fields.contains_key("a"));
        assert_eq!(updated.notes.len(), 1);
        assert_eq!(updated.notes[0].text, "Call on Monday");
        assert_eq!(
            store.get_lead(&ws, &created.lead.id).await.unwrap(),
            Some(updated)
        );

        let by_old_tag = LeadFilter {
            tag: Some("x".into()),
            ..Default::default()
        };
        assert!(
            store
                .list_leads(&ws, &by_old_tag, &page(5))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let other = workspace(store, "other").await;
        let foreign = store.update_lead(&other, &created.lead.id, &patch).await;
        assert!(
            matches!(foreign, Err(StoreError::NotFound("lead"))),
            "{foreign:?}"
        );
        assert_eq!(
            store.get_lead(&other, &created.lead.id).await.unwrap(),
            None
        );
    }

    pub async fn an_inbound_message_replies_and_queues_one_delivery_per_subscriber(
        store: &dyn Store,
    ) {
        let ws = workspace(store, "acme").await;
        let replies = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let _connections = endpoint(store, &ws, &[EventType::LeadConnected]).await;
        let both = endpoint(store, &ws, &[EventType::LeadReplied, EventType::LeadOpened]).await;
        let other_ws = workspace(store, "other").await;
        endpoint(store, &other_ws, &[EventType::LeadReplied]).await;

        let created = store
            .create_lead(&ws, &lead(json!({"name": "Sarah Chen"})))
            .await
            .unwrap();
        let (_, outbound_event) = store
            .add_message(&ws, &created.lead.id, &message("outbound", "Hi"))
            .await
            .unwrap();
        assert_eq!(outbound_event, None);
        let (reply, event_id) = store
            .add_message(
                &ws,
                &created.lead.id,
                &message("inbound", "Sure - send a link."),
            )
            .await
            .unwrap();
        let event_id = event_id.expect("an inbound message emits lead.replied");

        let stored = store
            .get_lead(&ws, &created.lead.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.lead.stage, Stage::Replied);
        assert_eq!(stored.lead.last_activity_at, Some(reply.sent_at));
        assert_eq!(stored.messages.len(), 2);

        let claimed = claim_all(store, "w1", later(1)).await;
        let mut endpoints: Vec<&str> = claimed.iter().map(|d| d.endpoint_id.as_str()).collect();
        endpoints.sort_unstable();
        let mut expected = vec![replies.as_str(), both.as_str()];
        expected.sort_unstable();
        assert_eq!(endpoints, expected);
        for delivery in &claimed {
            assert_eq!(delivery.event_id, event_id);
            assert_eq!(delivery.event_type, EventType::LeadReplied);
            assert_eq!(delivery.attempt, 1);
            assert_eq!(delivery.workspace_id, ws);
            let envelope: Value = serde_json::from_str(&delivery.payload).unwrap();
            assert_eq!(envelope["event"], "lead.replied");
            assert_eq!(envelope["id"], event_id.as_str());
            assert_eq!(envelope["data"]["lead"]["stage"], "replied");
            assert_eq!(envelope["data"]["message"]["text"], "Sure - send a link.");
        }
    }

    pub async fn activities_emit_their_events_and_advance_the_stage(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(
            store,
            &ws,
            &[EventType::LeadConnected, EventType::LeadOpened],
        )
        .await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A", "stage": "invited"})))
            .await
            .unwrap();
        store
            .add_activity(&ws, &created.lead.id, &activity("connected"))
            .await
            .unwrap();
        store
            .add_activity(&ws, &created.lead.id, &activity("opened"))
            .await
            .unwrap();
        let stored = store
            .get_lead(&ws, &created.lead.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.lead.stage, Stage::Connected);
        assert_eq!(stored.activities.len(), 2);
        let mut types: Vec<EventType> = claim_all(store, "w1", later(1))
            .await
            .iter()
            .map(|d| d.event_type)
            .collect();
        types.sort();
        assert_eq!(types, vec![EventType::LeadConnected, EventType::LeadOpened]);
        let missing = store
            .add_activity(&ws, "ld_01J00000000000000000000000", &activity("opened"))
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound("lead"))),
            "{missing:?}"
        );
    }

    pub async fn claims_are_exclusive_until_released_or_expired(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "hi"))
            .await
            .unwrap();

        assert_eq!(claim_all(store, "w1", later(1)).await.len(), 1);
        assert!(
            claim_all(store, "w2", later(2)).await.is_empty(),
            "held by w1"
        );
        assert_eq!(
            claim_all(store, "w2", later(120)).await.len(),
            1,
            "lease expired"
        );
        assert_eq!(store.release_claims("w2").await.unwrap(), 1);
        assert_eq!(claim_all(store, "w3", later(2)).await.len(), 1, "released");
        assert!(
            claim_all(store, "w3", later(-60)).await.is_empty(),
            "not due yet"
        );
    }

    pub async fn claims_respect_the_per_endpoint_cap_and_skipped_endpoints(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let busy = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let quiet = endpoint(store, &ws, &[EventType::LeadConnected]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        for n in 0..5 {
            store
                .add_message(&ws, &created.lead.id, &message("inbound", &format!("{n}")))
                .await
                .unwrap();
        }
        store
            .add_activity(&ws, &created.lead.id, &activity("connected"))
            .await
            .unwrap();

        let skip = vec![busy.clone()];
        let request = ClaimRequest {
            worker: "w1",
            now: later(1),
            lease: Duration::from_secs(60),
            limit: 100,
            per_endpoint: 2,
            per_workspace: 1_000,
            skip_endpoints: &skip,
            skip_workspaces: &[],
        };
        let claimed = store.claim_deliveries(&request).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].endpoint_id, quiet);

        let request = ClaimRequest {
            skip_endpoints: &[],
            skip_workspaces: &[],
            ..request
        };
        let claimed = store.claim_deliveries(&request).await.unwrap();
        assert_eq!(claimed.len(), 2, "two of the busy endpoint's five");
        assert!(claimed.iter().all(|d| d.endpoint_id == busy));
        let ordered: Vec<&str> = claimed.iter().map(|d| d.payload.as_str()).collect();
        assert!(ordered[0].contains(r#""text":"0""#) && ordered[1].contains(r#""text":"1""#));
    }

    pub async fn claims_respect_the_per_workspace_cap_and_release_what_they_return(
        store: &dyn Store,
    ) {
        let busy = workspace(store, "busy").await;
        let quiet = workspace(store, "quiet").await;
        for ws in [&busy, &quiet] {
            endpoint(store, ws, &[EventType::LeadReplied]).await;
            endpoint(store, ws, &[EventType::LeadReplied]).await;
        }
        for ws in [&busy, &quiet] {
            let lead = store
                .create_lead(ws, &lead(json!({"name": "A"})))
                .await
                .unwrap();
            for n in 0..3 {
                store
                    .add_message(ws, &lead.lead.id, &message("inbound", &format!("{n}")))
                    .await
                    .unwrap();
            }
        }
        let request = ClaimRequest {
            worker: "w1",
            now: later(1),
            lease: Duration::from_secs(60),
            limit: 100,
            per_endpoint: 100,
            per_workspace: 4,
            skip_endpoints: &[],
            skip_workspaces: &[],
        };
        let claimed = store.claim_deliveries(&request).await.unwrap();
        let count = |ws: &str| claimed.iter().filter(|d| d.workspace_id == ws).count();
        assert_eq!((count(&busy), count(&quiet)), (4, 4));

        let skip = vec![busy.clone()];
        let skipping = ClaimRequest {
            skip_workspaces: &skip,
            ..request.clone()
        };
        let more = store.claim_deliveries(&skipping).await.unwrap();
        assert!(
            more.iter().all(|d| d.workspace_id == quiet),
            "the busy workspace is passed over"
        );
        assert_eq!(more.len(), 2);

        let returned: Vec<String> = claimed
            .iter()
            .take(3)
            .map(|d| d.delivery_id.clone())
            .collect();
        assert_eq!(
            store
                .release_deliveries("someone-else", &returned)
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.release_deliveries("w1", &returned).await.unwrap(), 3);
        let again = ClaimRequest {
            worker: "w2",
            per_workspace: 100,
            ..request
        };
        let reclaimed = store.claim_deliveries(&again).await.unwrap();
        let reclaimed: HashSet<String> = reclaimed.into_iter().map(|d| d.delivery_id).collect();
        assert!(
            returned.iter().all(|id| reclaimed.contains(id)),
            "released ones are free again"
        );
    }

    pub async fn the_queue_summary_counts_pending_and_due_deliveries(store: &dyn Store) {
        let empty = store.queue_summary(later(1)).await.unwrap();
        assert_eq!(
            (empty.pending, empty.due, empty.oldest_due_at),
            (0, 0, None)
        );
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        for text in ["one", "two"] {
            store
                .add_message(&ws, &created.lead.id, &message("inbound", text))
                .await
                .unwrap();
        }

        let summary = store.queue_summary(later(1)).await.unwrap();
        assert_eq!((summary.pending, summary.due), (2, 2));
        let oldest = summary
            .oldest_pending_created_at
            .expect("an oldest delivery");
        assert!(oldest <= time::now());
        assert!(summary.oldest_due_at.is_some_and(|at| at <= later(1)));

        let claimed = claim_all(store, "w1", later(1)).await;
        let (first, second) = (&claimed[0], &claimed[1]);
        let retry_at = later(300);
        store
            .record_attempt(&record(first, AttemptResult::RetryAt(retry_at), Some(500)))
            .await
            .unwrap();
        store
            .record_attempt(&record(second, AttemptResult::Delivered, Some(204)))
            .await
            .unwrap();
        let summary = store.queue_summary(later(2)).await.unwrap();
        assert_eq!(
            (summary.pending, summary.due, summary.oldest_due_at),
            (1, 0, None)
        );
        let summary = store
            .queue_summary(retry_at + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!((summary.due, summary.oldest_due_at), (1, Some(retry_at)));
    }

    /// A receiver may answer with U+0000; the attempt is still recorded, so the delivery
    /// moves on instead of being made again when its claim runs out.
    pub async fn an_answer_holding_nul_is_recorded(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let ep = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "one"))
            .await
            .unwrap();
        let claimed = claim_all(store, "w1", later(1)).await;
        let mut attempt = record(&claimed[0], AttemptResult::Delivered, Some(200));
        attempt.response_excerpt = Some("ok\0\0done".into());
        attempt.error = Some("odd\0".into());
        store.record_attempt(&attempt).await.unwrap();
        assert_eq!(store.delivery_counts(&ws).await.unwrap().succeeded, 1);
        let log = store.list_attempts(&ws, &ep, &page(50)).await.unwrap();
        assert_eq!(
            log.items[0].response_excerpt.as_deref(),
            Some("ok\u{fffd}\u{fffd}done")
        );
    }

    pub async fn attempts_are_recorded_and_move_the_delivery_on(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let ep = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "one"))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "two"))
            .await
            .unwrap();

        let claimed = claim_all(store, "w1", later(1)).await;
        let (first, second) = (&claimed[0], &claimed[1]);
        let retry_at = later(300);
        store
            .record_attempt(&record(first, AttemptResult::RetryAt(retry_at), Some(500)))
            .await
            .unwrap();
        store
            .record_attempt(&record(second, AttemptResult::Delivered, Some(204)))
            .await
            .unwrap();

        let counts = store.delivery_counts(&ws).await.unwrap();
        assert_eq!((counts.pending, counts.succeeded), (1, 1));
        assert!(
            claim_all(store, "w1", later(60)).await.is_empty(),
            "retry not due yet"
        );
        let retried = claim_all(store, "w1", later(301)).await;
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].delivery_id, first.delivery_id);
        assert_eq!(retried[0].attempt, 2);
        assert!(retried[0].first_attempt_at.is_some());
        store
            .record_attempt(&record(&retried[0], AttemptResult::GaveUp, None))
            .await
            .unwrap();
        assert_eq!(store.delivery_counts(&ws).await.unwrap().failed, 1);

        let log = store.list_attempts(&ws, &ep, &page(50)).await.unwrap();
        assert_eq!(log.items.len(), 3);
        let newest = &log.items[0];
        assert_eq!(
            (newest.attempt, newest.succeeded, newest.status_code),
            (2, false, None)
        );
        let failed_first = log
            .items
            .iter()
            .find(|a| a.status_code == Some(500))
            .unwrap();
        assert_eq!(
            failed_first.next_retry_at.map(time::to_micros),
            Some(time::to_micros(retry_at))
        );
        assert_eq!(failed_first.event, EventType::LeadReplied);
        assert!(
            log.items
                .iter()
                .any(|a| a.succeeded && a.status_code == Some(204))
        );
        let foreign = store
            .list_attempts(&workspace(store, "other").await, &ep, &page(5))
            .await;
        assert!(
            matches!(foreign, Err(StoreError::NotFound(_))),
            "{foreign:?}"
        );
    }

    pub async fn endpoint_formats_are_kept_and_handed_to_the_dispatcher(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let mut ids = Vec::new();
        for format in EndpointFormat::ALL {
            let id = formatted_endpoint(store, &ws, &[EventType::LeadReplied], format).await;
            let stored = store.get_endpoint(&ws, &id).await.unwrap().unwrap();
            assert_eq!(stored.format, format);
            ids.push((id, format));
        }
        let listed = store.list_endpoints(&ws, &page(10)).await.unwrap();
        assert!(ids.iter().all(|(id, format)| {
            listed
                .items
                .iter()
                .any(|e| &e.id == id && e.format == *format)
        }));

        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "one"))
            .await
            .unwrap();
        let claimed = claim_all(store, "w1", later(1)).await;
        assert_eq!(claimed.len(), 3);
        for delivery in &claimed {
            let expected = ids
                .iter()
                .find(|(id, _)| *id == delivery.endpoint_id)
                .unwrap();
            assert_eq!(delivery.format, expected.1);
        }
    }

    pub async fn a_rate_limited_attempt_is_made_again_under_the_same_number(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let ep = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "one"))
            .await
            .unwrap();

        let claimed = claim_all(store, "w1", later(1)).await;
        assert_eq!(claimed[0].attempt, 1);
        let limited = record(
            &claimed[0],
            AttemptResult::RateLimited(later(30)),
            Some(429),
        );
        store.record_attempt(&limited).await.unwrap();
        assert!(
            claim_all(store, "w1", later(20)).await.is_empty(),
            "not due yet"
        );

        let again = claim_all(store, "w1", later(31)).await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempt, 1, "the 429 did not use up an attempt");
        let started = again[0]
            .first_attempt_at
            .expect("the window started at the 429");
        assert_eq!(
            time::to_micros(started),
            time::to_micros(limited.attempted_at)
        );
        store
            .record_attempt(&record(
                &again[0],
                AttemptResult::RetryAt(later(60)),
                Some(500),
            ))
            .await
            .unwrap();
        let next = claim_all(store, "w1", later(61)).await;
        assert_eq!(next[0].attempt, 2, "an ordinary failure counts");

        let log = store.list_attempts(&ws, &ep, &page(10)).await.unwrap();
        let numbers: Vec<(u32, Option<u16>)> = log
            .items
            .iter()
            .map(|a| (a.attempt, a.status_code))
            .collect();
        assert_eq!(numbers, vec![(1, Some(500)), (1, Some(429))]);
        assert!(log.items[1].next_retry_at.is_some());
        assert_eq!(store.delivery_counts(&ws).await.unwrap().pending, 1);
    }

    pub async fn a_gone_endpoint_is_disabled_and_its_queue_cancelled(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let ep = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "one"))
            .await
            .unwrap();
        let claimed = claim_all(store, "w1", later(1)).await;
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "two"))
            .await
            .unwrap();
        store
            .record_attempt(&record(&claimed[0], AttemptResult::EndpointGone, Some(410)))
            .await
            .unwrap();

        let endpoint = store.get_endpoint(&ws, &ep).await.unwrap().unwrap();
        assert!(endpoint.disabled);
        assert_eq!(endpoint.disabled_reason.as_deref(), Some("gone"));
        assert_eq!(store.delivery_counts(&ws).await.unwrap().cancelled, 2);
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "three"))
            .await
            .unwrap();
        assert!(
            claim_all(store, "w1", later(5)).await.is_empty(),
            "disabled endpoints get nothing"
        );
    }

    pub async fn deleting_an_endpoint_hides_it_and_cancels_its_queue(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let ep = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "one"))
            .await
            .unwrap();
        let other = workspace(store, "other").await;
        assert!(
            !store.delete_endpoint(&other, &ep).await.unwrap(),
            "not the other's to delete"
        );
        assert!(store.delete_endpoint(&ws, &ep).await.unwrap());
        assert!(!store.delete_endpoint(&ws, &ep).await.unwrap());
        assert_eq!(store.get_endpoint(&ws, &ep).await.unwrap(), None);
        assert!(
            store
                .list_endpoints(&ws, &page(10))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(store.delivery_counts(&ws).await.unwrap().cancelled, 1);
        assert!(claim_all(store, "w1", later(5)).await.is_empty());
    }

    pub async fn the_delivery_log_shows_only_the_last_hundred_attempts(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let ep = endpoint(store, &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        store
            .add_message(&ws, &created.lead.id, &message("inbound", "x"))
            .await
            .unwrap();
        let delivery = claim_all(store, "w1", later(1)).await.remove(0);
        let mut attempt_ids = Vec::new();
        for n in 1..=105 {
            let mut attempt = record(&delivery, AttemptResult::RetryAt(later(1)), Some(500));
            attempt.attempt = n;
            attempt_ids.push(attempt.attempt_id.clone());
            store.record_attempt(&attempt).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut request = page(40);
        loop {
            let found = store.list_attempts(&ws, &ep, &request).await.unwrap();
            seen.extend(found.items.iter().map(|a| a.delivery_id.clone()));
            match found.next_after {
                Some(after) => request.after = Some(after),
                None => break,
            }
        }
        attempt_ids.reverse();
        attempt_ids.truncate(100);
        assert_eq!(seen, attempt_ids);
    }

    pub async fn writers_in_parallel_lose_nothing(store: Arc<dyn Store>) {
        let ws = workspace(store.as_ref(), "acme").await;
        endpoint(store.as_ref(), &ws, &[EventType::LeadReplied]).await;
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for n in 0..40 {
            let (store, ws, id) = (Arc::clone(&store), ws.clone(), created.lead.id.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .add_message(&ws, &id, &message("inbound", &format!("m{n}")))
                    .await
                    .unwrap()
            }));
        }
        let mut events = HashSet::new();
        for task in tasks {
            events.insert(task.await.unwrap().1.unwrap());
        }
        assert_eq!(events.len(), 40);
        let claimed = claim_all(store.as_ref(), "w1", later(1)).await;
        let claimed_events: HashSet<String> = claimed.into_iter().map(|d| d.event_id).collect();
        assert_eq!(claimed_events, events);
        let stored = store
            .get_lead(&ws, &created.lead.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.messages.len(), 40);
    }

    /// Dispatchers claiming at once, each a few at a time, share the queue out: every
    /// delivery is claimed exactly once and none is left behind.
    pub async fn concurrent_claims_take_each_delivery_once(store: Arc<dyn Store>) {
        let ws = workspace(store.as_ref(), "acme").await;
        for _ in 0..3 {
            endpoint(store.as_ref(), &ws, &[EventType::LeadReplied]).await;
        }
        let created = store
            .create_lead(&ws, &lead(json!({"name": "A"})))
            .await
            .unwrap();
        for n in 0..60 {
            store
                .add_message(&ws, &created.lead.id, &message("inbound", &format!("m{n}")))
                .await
                .unwrap();
        }
        let mut workers = Vec::new();
        for n in 0..4 {
            let store = Arc::clone(&store);
            workers.push(tokio::spawn(async move {
                let worker = format!("w{n}");
                let mut mine = Vec::new();
                loop {
                    let request = ClaimRequest {
                        worker: &worker,
                        now: later(1),
                        lease: Duration::from_secs(60),
                        limit: 7,
                        per_endpoint: 3,
                        per_workspace: 7,
                        skip_endpoints: &[],
                        skip_workspaces: &[],
                    };
                    let claimed = store.claim_deliveries(&request).await.unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    for delivery in claimed {
                        let attempt = record(&delivery, AttemptResult::Delivered, Some(200));
                        store.record_attempt(&attempt).await.unwrap();
                        mine.push(delivery.delivery_id);
                    }
                }
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for worker in workers {
            for id in worker.await.unwrap() {
                total += 1;
                assert!(seen.insert(id.clone()), "{id} was claimed twice");
            }
        }
        assert_eq!(total, 180, "60 events to 3 endpoints");
        let counts = store.delivery_counts(&ws).await.unwrap();
        assert_eq!((counts.pending, counts.succeeded), (0, 180));
    }

    pub async fn plan_changes_emit_subscription_created_naming_the_previous_plan(
        store: &dyn Store,
    ) {
        let ws = store.create_workspace("acme", Plan::Pro).await.unwrap();
        let billing = [
            EventType::SubscriptionCreated,
            EventType::SubscriptionCancelled,
        ];
        endpoint(store, &ws.id, &billing).await;

        let unchanged = store.change_plan(&ws.id, Plan::Pro).await.unwrap();
        assert_eq!(unchanged.event_id, None, "the same plan is no change");
        assert_eq!(unchanged.workspace, ws);

        let upgrade = store.change_plan(&ws.id, Plan::Agency).await.unwrap();
        assert_eq!(upgrade.previous_plan, Plan::Pro);
        assert_eq!(upgrade.workspace.plan, Plan::Agency);
        let found = store.find_workspace("acme").await.unwrap().unwrap();
        assert_eq!(found.plan, Plan::Agency);

        let claimed = claim_in_order(store).await;
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(Some(&claimed[0].event_id), upgrade.event_id.as_ref());
        assert_eq!(claimed[0].event_type, EventType::SubscriptionCreated);
        let data = &envelope(&claimed[0])["data"];
        assert_eq!(data["workspace"]["id"], ws.id.as_str());
        assert_eq!(data["workspace"]["name"], "acme");
        assert_eq!(data["workspace"]["plan"], "agency");
        assert_eq!(data["previous_plan"], "pro");

        let missing = store
            .change_plan("ws_01J00000000000000000000000", Plan::Pro)
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound("workspace"))),
            "{missing:?}"
        );
    }

    pub async fn subscription_events_reach_only_workspaces_on_the_agency_plan(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::SubscriptionCreated]).await;

        let downgrade = store.change_plan(&ws, Plan::Starter).await.unwrap();
        assert!(downgrade.event_id.is_some(), "the change is recorded");
        assert!(
            claim_all(store, "w1", later(1)).await.is_empty(),
            "starter and pro workspaces get no billing events"
        );

        let to_agency = store.change_plan(&ws, Plan::Agency).await.unwrap();
        let from_agency = store.change_plan(&ws, Plan::Pro).await.unwrap();
        let delivered: Vec<String> = claim_in_order(store)
            .await
            .into_iter()
            .map(|d| d.event_id)
            .collect();
        let expected: Vec<String> = [to_agency.event_id, from_agency.event_id]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(delivered, expected, "an agency hears of its own downgrade");
    }

    pub async fn managed_workspaces_are_found_by_owner_and_change_in_place(store: &dyn Store) {
        let settings = WorkspaceSettings {
            seats: Some(3),
            limits: LimitOverrides {
                requests_per_minute: Some(1_200),
                webhook_events_per_minute: None,
            },
            suspended: false,
        };
        let ws = store
            .create_managed_workspace("uid-1", "acme", Plan::Agency, &settings)
            .await
            .unwrap();
        assert_eq!((ws.seats, ws.limits), (Some(3), settings.limits));
        assert_eq!(
            store.managed_workspace("uid-1").await.unwrap(),
            Some(ws.clone())
        );
        assert_eq!(store.managed_workspace("uid-2").await.unwrap(), None);
        let taken = store
            .create_managed_workspace("uid-2", "acme", Plan::Pro, &WorkspaceSettings::default())
            .await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
        let seats_on_pro = store
            .create_managed_workspace("uid-3", "solo", Plan::Pro, &settings)
            .await;
        assert!(
            matches!(seats_on_pro, Err(StoreError::Invalid(_))),
            "{seats_on_pro:?}"
        );

        // Settings change without an event; suspension marks the tokens' workspace.
        let billing = [
            EventType::SubscriptionCreated,
            EventType::SubscriptionCancelled,
        ];
        endpoint(store, &ws.id, &billing).await;
        let issued = token::issue();
        store
            .create_token(&ws.id, &NewToken::named("ci"), &issued)
            .await
            .unwrap();
        let suspended = WorkspaceSettings {
            suspended: true,
            ..settings.clone()
        };
        let changed = store
            .update_workspace_settings(&ws.id, &suspended)
            .await
            .unwrap();
        assert!(changed.suspended);
        let credentials = store
            .token_credentials(&issued.public_id, time::now())
            .await
            .unwrap()
            .expect("the token still resolves");
        assert!(credentials.workspace.suspended);
        assert!(claim_in_order(store).await.is_empty());

        // A token is found by its public id whatever its state.
        let found = store.token_by_public_id(&issued.public_id).await.unwrap();
        let token = found.expect("found");
        assert_eq!(token.managed_by, None);
        store
            .set_token_owner(&ws.id, &token.id, "ApiToken ns/ci")
            .await
            .unwrap();
        let marked = store.get_token(&ws.id, &token.id).await.unwrap().unwrap();
        assert_eq!(marked.managed_by.as_deref(), Some("ApiToken ns/ci"));
        let elsewhere = store.set_token_owner("ws_other", &token.id, "x").await;
        assert!(
            matches!(elsewhere, Err(StoreError::NotFound(_))),
            "{elsewhere:?}"
        );
        assert!(store.revoke_token(&ws.id, &token.id).await.unwrap());
        let revoked = store.token_by_public_id(&issued.public_id).await.unwrap();
        assert!(revoked.expect("still found").revoked_at.is_some());
        assert_eq!(store.token_by_public_id("nothing").await.unwrap(), None);
    }

    pub async fn endpoints_change_in_place_and_keep_a_delivery_s_decision(store: &dyn Store) {
        let workspace_id = workspace(store, "acme").await;
        let id = endpoint(store, &workspace_id, &[EventType::LeadReplied]).await;
        let update = EndpointUpdate {
            url: "http://127.0.0.1:9/other".into(),
            events: vec![EventType::LeadReplied, EventType::LeadConnected],
            format: EndpointFormat::Json,
            disabled: None,
            sealed_secret: None,
        };
        let changed = store
            .update_endpoint(&workspace_id, &id, &update)
            .await
            .unwrap();
        assert_eq!(changed.url, "http://127.0.0.1:9/other");
        assert_eq!(changed.events.len(), 2);
        assert!(!changed.disabled);

        let disabled = EndpointUpdate {
            disabled: Some(true),
            ..update.clone()
        };
        let changed = store
            .update_endpoint(&workspace_id, &id, &disabled)
            .await
            .unwrap();
        assert!(changed.disabled);
        let untouched = store
            .update_endpoint(&workspace_id, &id, &update)
            .await
            .unwrap();
        assert!(untouched.disabled, "None leaves the flag as it is");
        let enabled = EndpointUpdate {
            disabled: Some(false),
            sealed_secret: Some("v1:other".into()),
            ..update.clone()
        };
        let changed = store
            .update_endpoint(&workspace_id, &id, &enabled)
            .await
            .unwrap();
        assert!(!changed.disabled && changed.disabled_reason.is_none());

        store
            .set_endpoint_owner(&workspace_id, &id, "WebhookEndpoint ns/hook")
            .await
            .unwrap();
        let marked = store
            .get_endpoint(&workspace_id, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            marked.managed_by.as_deref(),
            Some("WebhookEndpoint ns/hook")
        );

        assert!(store.delete_endpoint(&workspace_id, &id).await.unwrap());
        let gone = store.update_endpoint(&workspace_id, &id, &update).await;
        assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
    }

    pub async fn cancelling_stops_tokens_and_refuses_further_changes(store: &dyn Store) {
        let ws = store.create_workspace("acme", Plan::Agency).await.unwrap();
        let events = [EventType::SubscriptionCancelled, EventType::TeamMemberAdded];
        endpoint(store, &ws.id, &events).await;
        let issued = token::issue();
        store
            .create_token(&ws.id, &NewToken::named("ci"), &issued)
            .await
            .unwrap();
        let credentials = store
            .token_credentials(&issued.public_id, time::now())
            .await
            .unwrap();
        assert_eq!(credentials.unwrap().workspace.cancelled_at, None);

        let cancelled = store.cancel_workspace(&ws.id).await.unwrap();
        let cancelled_at = cancelled.workspace.cancelled_at.expect("cancelled");
        let event_id = cancelled.event_id.expect("a first cancellation emits");
        let credentials = store
            .token_credentials(&issued.public_id, time::now())
            .await
            .unwrap();
        assert_eq!(
            credentials.unwrap().workspace.cancelled_at,
            Some(cancelled_at)
        );
        let again = store.cancel_workspace(&ws.id).await.unwrap();
        assert_eq!(again.event_id, None);
        assert_eq!(again.workspace.cancelled_at, Some(cancelled_at));

        let plan = store.change_plan(&ws.id, Plan::Pro).await;
        assert!(matches!(plan, Err(StoreError::Conflict(_))), "{plan:?}");
        let added = store
            .add_member(&ws.id, &member("ana@example.com", Role::Owner))
            .await;
        assert!(matches!(added, Err(StoreError::Conflict(_))), "{added:?}");
        let removed = store.remove_member(&ws.id, "ana@example.com").await;
        assert!(
            matches!(removed, Err(StoreError::Conflict(_))),
            "{removed:?}"
        );
        let found = store.find_workspace(&ws.id).await.unwrap().unwrap();
        assert_eq!(
            (found.plan, found.cancelled_at),
            (Plan::Agency, Some(cancelled_at))
        );

        let claimed = claim_in_order(store).await;
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(claimed[0].event_id, event_id);
        assert_eq!(claimed[0].event_type, EventType::SubscriptionCancelled);
        let data = &envelope(&claimed[0])["data"];
        assert_eq!(data["workspace"]["id"], ws.id.as_str());
        assert_eq!(
            data["workspace"]["cancelled_at"],
            time::rfc3339(cancelled_at).as_str()
        );
    }

    pub async fn members_are_added_once_and_removed_with_their_events(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let team = [EventType::TeamMemberAdded, EventType::TeamMemberRemoved];
        endpoint(store, &ws, &team).await;
        let other = workspace(store, "other").await;

        let (ana, ana_added) = store
            .add_member(&ws, &member("Ana@Example.com", Role::Admin))
            .await
            .unwrap();
        assert_eq!(
            (ana.email.as_str(), ana.role),
            ("ana@example.com", Role::Admin)
        );
        let duplicate = store
            .add_member(&ws, &member("ANA@example.com", Role::Member))
            .await;
        assert!(
            matches!(&duplicate, Err(StoreError::Conflict(m)) if m.contains("ana@example.com")),
            "{duplicate:?}"
        );
        let invalid = store.add_member(&ws, &member("ana", Role::Member)).await;
        assert!(
            matches!(&invalid, Err(StoreError::Invalid(e)) if e.field == "email"),
            "{invalid:?}"
        );
        let (bo, _) = store
            .add_member(&ws, &member("bo@example.com", Role::Member))
            .await
            .unwrap();
        store
            .add_member(&other, &member("ana@example.com", Role::Owner))
            .await
            .unwrap();
        assert_eq!(
            store.list_members(&ws).await.unwrap(),
            vec![ana.clone(), bo.clone()]
        );

        let (removed, removed_event) = store.remove_member(&ws, "ANA@example.com").await.unwrap();
        assert_eq!(removed, ana);
        let again = store.remove_member(&ws, "ana@example.com").await;
        assert!(
            matches!(again, Err(StoreError::NotFound("member"))),
            "{again:?}"
        );
        assert_eq!(store.list_members(&ws).await.unwrap(), vec![bo]);
        assert_eq!(store.list_members(&other).await.unwrap().len(), 1);

        let claimed = claim_in_order(store).await;
        let types: Vec<EventType> = claimed.iter().map(|d| d.event_type).collect();
        assert_eq!(
            types,
            vec![
                EventType::TeamMemberAdded,
                EventType::TeamMemberAdded,
                EventType::TeamMemberRemoved
            ]
        );
        assert_eq!(claimed[0].event_id, ana_added);
        assert_eq!(claimed[2].event_id, removed_event);
        let data = &envelope(&claimed[2])["data"];
        assert_eq!(data["member"]["email"], "ana@example.com");
        assert_eq!(data["member"]["role"], "admin");
        assert_eq!(data["workspace"]["id"], ws.as_str());
    }

    pub async fn signals_are_recorded_with_their_alert_and_listed_newest_first(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::WatchtowerAlert]).await;
        let sarah = store
            .create_lead(&ws, &lead(json!({"name": "Sarah Chen"})))
            .await
            .unwrap()
            .lead;
        let occurred = "2026-05-20T09:30:00Z";
        let (moved, moved_event) = store
            .record_signal(
                &ws,
                &signal(json!({
                    "type": "job_change", "lead_id": sarah.id,
                    "title": "Sarah Chen is now VP Sales at Northwind",
                    "url": "https://www.linkedin.com/in/sarahchen", "occurred_at": occurred
                })),
            )
            .await
            .unwrap();
        assert!(ids::has_prefix(&moved.id, ids::SIGNAL), "{}", moved.id);
        assert_eq!(time::rfc3339(moved.occurred_at), occurred);
        let (funding, funding_event) = store
            .record_signal(
                &ws,
                &signal(json!({"type": "funding", "company": "Northwind", "title": "Series B"})),
            )
            .await
            .unwrap();
        let (viewed, _) = store
            .record_signal(
                &ws,
                &signal(json!({"type": "profile_view", "lead_id": sarah.id, "title": "Viewed"})),
            )
            .await
            .unwrap();

        let claimed = claim_in_order(store).await;
        assert_eq!(claimed.len(), 3);
        assert!(
            claimed
                .iter()
                .all(|d| d.event_type == EventType::WatchtowerAlert)
        );
        assert_eq!(claimed[0].event_id, moved_event);
        let data = &envelope(&claimed[0])["data"];
        assert_eq!(data["signal"]["id"], moved.id.as_str());
        assert_eq!(data["signal"]["type"], "job_change");
        assert_eq!(data["signal"]["occurred_at"], occurred);
        assert_eq!(data["lead"]["id"], sarah.id.as_str());
        assert_eq!(data["lead"]["name"], "Sarah Chen");
        assert_eq!(claimed[1].event_id, funding_event);
        let data = &envelope(&claimed[1])["data"];
        assert_eq!(data["signal"]["company"], "Northwind");
        assert_eq!(data["lead"], Value::Null);

        let ws_ref = ws.as_str();
        let ids_of = |filter: SignalFilter, limit: u32| async move {
            let found = store
                .list_signals(ws_ref, &filter, &page(limit))
                .await
                .unwrap();
            let ids: Vec<String> = found.items.into_iter().map(|s| s.id).collect();
            (ids, found.next_after)
        };
        let all = vec![viewed.id.clone(), funding.id.clone(), moved.id.clone()];
        assert_eq!(
            ids_of(SignalFilter::default(), 10).await,
            (all.clone(), None)
        );
        let by_type = SignalFilter {
            kind: Some("funding".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(ids_of(by_type, 10).await.0, vec![funding.id.clone()]);
        let by_lead = SignalFilter {
            lead_id: Some(sarah.id.clone()),
            ..Default::default()
        };
        assert_eq!(
            ids_of(by_lead, 10).await.0,
            vec![viewed.id.clone(), moved.id.clone()]
        );
        let recent = SignalFilter {
            since: Some(later(-3_600)),
            ..Default::default()
        };
        assert_eq!(ids_of(recent, 10).await.0, all);
        let future = SignalFilter {
            since: Some(later(3_600)),
            ..Default::default()
        };
        assert!(ids_of(future, 10).await.0.is_empty());

        let (first, after) = ids_of(SignalFilter::default(), 2).await;
        assert_eq!(first, all[..2]);
        let rest = PageRequest {
            limit: 2,
            after: after.clone(),
        };
        let rest = store
            .list_signals(&ws, &SignalFilter::default(), &rest)
            .await
            .unwrap();
        assert_eq!(rest.items, vec![moved.clone()]);
        assert_eq!(rest.next_after, None);

        assert_eq!(
            store.get_signal(&ws, &moved.id).await.unwrap(),
            Some(moved.clone())
        );
        let other = workspace(store, "other").await;
        assert_eq!(store.get_signal(&other, &moved.id).await.unwrap(), None);
        let foreign = store
            .list_signals(&other, &SignalFilter::default(), &page(10))
            .await
            .unwrap();
        assert!(foreign.items.is_empty());
    }

    pub async fn a_signal_about_an_unknown_lead_is_refused_and_writes_nothing(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::WatchtowerAlert]).await;
        let other = workspace(store, "other").await;
        let foreign = store
            .create_lead(&other, &lead(json!({"name": "Not Yours"})))
            .await
            .unwrap()
            .lead;
        for lead_id in ["ld_01J00000000000000000000000", foreign.id.as_str()] {
            let body = json!({"type": "hiring", "lead_id": lead_id, "title": "Hiring"});
            let refused = store.record_signal(&ws, &signal(body)).await;
            assert!(
                matches!(&refused, Err(StoreError::Invalid(e)) if e.field == "lead_id"),
                "{refused:?}"
            );
        }
        let untitled = store
            .record_signal(&ws, &signal(json!({"type": "hiring", "title": ""})))
            .await;
        assert!(
            matches!(&untitled, Err(StoreError::Invalid(e)) if e.field == "title"),
            "{untitled:?}"
        );
        let listed = store
            .list_signals(&ws, &SignalFilter::default(), &page(10))
            .await
            .unwrap();
        assert!(listed.items.is_empty());
        assert!(claim_all(store, "w1", later(1)).await.is_empty());
    }
}

mod posts_and_campaigns {
    use socialscalr_core::model::{
        CampaignStatus, CompletionReason, NewPost, PostFailureReason, PostResult, PostStatus,
    };

    use super::*;

    const POST_EVENTS: [EventType; 2] = [EventType::PostPublished, EventType::PostFailed];
    const LINKEDIN_POST: &str = "https://www.linkedin.com/feed/update/urn:li:activity:7";
    const HOUR: Duration = Duration::from_secs(3_600);

    fn new_post(text: &str, seconds_ahead: i64) -> NewPost {
        let at = time::rfc3339(later(seconds_ahead));
        serde_json::from_value(json!({"text": text, "scheduled_at": at})).unwrap()
    }

    fn result(value: Value) -> PostResult {
        serde_json::from_value(value).expect("a valid result body")
    }

    fn published() -> PostResult {
        result(json!({"outcome": "published", "linkedin_url": LINKEDIN_POST}))
    }

    fn campaign(value: Value) -> NewCampaign {
        let mut body = json!({"name": "C", "targeting": {"source": "manual"},
            "steps": [{"type": "invite"}]});
        for (key, field) in value.as_object().unwrap() {
            body[key] = field.clone();
        }
        serde_json::from_value(body).unwrap()
    }

    fn envelope(delivery: &ClaimedDelivery) -> Value {
        serde_json::from_str(&delivery.payload).unwrap()
    }

    fn conflict_message<T: std::fmt::Debug>(outcome: Result<T, StoreError>) -> String {
        match outcome {
            Err(StoreError::Conflict(message)) => message,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    pub async fn posts_are_scheduled_listed_by_status_and_kept_per_workspace(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        let other = workspace(store, "other").await;
        let new = new_post("We are hiring.", 3_600);
        let first = store.create_post(&ws, &new).await.unwrap();
        assert!(ids::has_prefix(&first.id, ids::POST), "{}", first.id);
        assert_eq!(first.status, PostStatus::Scheduled);
        assert_eq!(first.text, "We are hiring.");
        assert_eq!(
            time::to_micros(first.scheduled_at),
            time::to_micros(new.scheduled_at)
        );
        assert_eq!((first.published_at, first.failure_reason), (None, None));
        let second = store.create_post(&ws, &new_post("Two", 60)).await.unwrap();
        let third = store
            .create_post(&ws, &new_post("Three", 60))
            .await
            .unwrap();
        store
            .create_post(&other, &new_post("Theirs", 60))
            .await
            .unwrap();

        assert_eq!(
            store.get_post(&ws, &first.id).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(store.get_post(&other, &first.id).await.unwrap(), None);

        let listed = store.list_posts(&ws, None, &page(2)).await.unwrap();
        let ids: Vec<&str> = listed.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, [third.id.as_str(), second.id.as_str()]);
        let rest = PageRequest {
            limit: 2,
            after: listed.next_after,
        };
        let listed = store.list_posts(&ws, None, &rest).await.unwrap();
        assert_eq!(listed.items, vec![first.clone()]);
        assert_eq!(listed.next_after, None);

        store
            .record_post_result(&ws, &second.id, &published())
            .await
            .unwrap();
        let ws_ref = ws.as_str();
        let with_status = |status| async move {
            let listed = store
                .list_posts(ws_ref, Some(status), &page(10))
                .await
                .unwrap();
            listed.items.into_iter().map(|p| p.id).collect::<Vec<_>>()
        };
        assert_eq!(
            with_status(PostStatus::Published).await,
            [second.id.as_str()]
        );
        assert_eq!(
            with_status(PostStatus::Scheduled).await,
            [third.id.as_str(), first.id.as_str()]
        );
        assert!(with_status(PostStatus::Failed).await.is_empty());

        let past = store.create_post(&ws, &new_post("Late", -1)).await;
        assert!(
            matches!(&past, Err(StoreError::Invalid(e)) if e.field == "scheduled_at"),
            "{past:?}"
        );
    }

    pub async fn a_reported_result_is_recorded_once_with_its_event(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &POST_EVENTS).await;
        let post = store.create_post(&ws, &new_post("A", 60)).await.unwrap();

        let recorded = store
            .record_post_result(&ws, &post.id, &published())
            .await
            .unwrap();
        assert!(!recorded.repeated);
        assert_eq!(recorded.post.status, PostStatus::Published);
        assert_eq!(recorded.post.linkedin_url.as_deref(), Some(LINKEDIN_POST));
        assert!(recorded.post.published_at.is_some());
        assert_eq!(
            store.get_post(&ws, &post.id).await.unwrap(),
            Some(recorded.post.clone())
        );

        // The same report again changes nothing and names the first report's event.
        let again = store
            .record_post_result(&ws, &post.id, &published())
            .await
            .unwrap();
        assert!(again.repeated);
        assert_eq!(again.event_id, recorded.event_id);
        assert_eq!(again.post, recorded.post);
        let failed = result(json!({"outcome": "failed", "reason": "other"}));
        let message = conflict_message(store.record_post_result(&ws, &post.id, &failed).await);
        assert!(message.contains("`published`"), "{message}");
        let elsewhere = format!("{LINKEDIN_POST}0");
        let elsewhere = result(json!({"outcome": "published", "linkedin_url": elsewhere}));
        conflict_message(store.record_post_result(&ws, &post.id, &elsewhere).await);

        let closed = store.create_post(&ws, &new_post("B", 60)).await.unwrap();
        let browser_closed =
            result(json!({"outcome": "failed", "reason": "browser_closed", "detail": "tab"}));
        let failure = store
            .record_post_result(&ws, &closed.id, &browser_closed)
            .await
            .unwrap();
        assert_eq!(failure.post.status, PostStatus::Failed);
        assert_eq!(
            failure.post.failure_reason,
            Some(PostFailureReason::BrowserClosed)
        );
        assert_eq!(failure.post.failure_detail.as_deref(), Some("tab"));
        let message = conflict_message(store.record_post_result(&ws, &closed.id, &failed).await);
        assert!(message.contains("`failed` (browser_closed)"), "{message}");

        let claimed = claim_all(store, "w1", later(1)).await;
        assert_eq!(claimed.len(), 2, "one event per result: {claimed:?}");
        for delivery in &claimed {
            let data = &envelope(delivery)["data"];
            if delivery.event_type == EventType::PostPublished {
                assert_eq!(delivery.event_id, recorded.event_id);
                assert_eq!(data["post"]["id"], json!(post.id));
                assert_eq!(data["post"]["status"], json!("published"));
                assert_eq!(data["post"]["linkedin_url"], json!(LINKEDIN_POST));
            } else {
                assert_eq!(delivery.event_type, EventType::PostFailed);
                assert_eq!(delivery.event_id, failure.event_id);
                assert_eq!(data["post"]["id"], json!(closed.id));
                assert_eq!(data["reason"], json!("browser_closed"));
                assert_eq!(data["detail"], json!("tab"));
            }
        }

        let other = workspace(store, "other").await;
        let foreign = store
            .record_post_result(&other, &post.id, &published())
            .await;
        assert!(
            matches!(foreign, Err(StoreError::NotFound("post"))),
            "{foreign:?}"
        );
        let invalid = result(json!({"outcome": "published"}));
        let invalid = store.record_post_result(&ws, &closed.id, &invalid).await;
        assert!(
            matches!(&invalid, Err(StoreError::Invalid(e)) if e.field == "linkedin_url"),
            "{invalid:?}"
        );
    }

    pub async fn unreported_posts_fail_as_not_run_once_however_many_sweep(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &POST_EVENTS).await;
        let due = store.create_post(&ws, &new_post("Due", 60)).await.unwrap();
        let tomorrow = store
            .create_post(&ws, &new_post("Tomorrow", 86_400))
            .await
            .unwrap();
        let reported = store.create_post(&ws, &new_post("Done", 60)).await.unwrap();
        store
            .record_post_result(&ws, &reported.id, &published())
            .await
            .unwrap();

        let within_grace = due.scheduled_at + chrono::Duration::seconds(3_599);
        let swept = store
            .fail_unrun_posts(within_grace, HOUR, 10)
            .await
            .unwrap();
        assert!(swept.is_empty(), "still within its grace: {swept:?}");

        let past_grace = due.scheduled_at + chrono::Duration::seconds(3_601);
        let (a, b, c, d) = tokio::join!(
            store.fail_unrun_posts(past_grace, HOUR, 10),
            store.fail_unrun_posts(past_grace, HOUR, 10),
            store.fail_unrun_posts(past_grace, HOUR, 10),
            store.fail_unrun_posts(past_grace, HOUR, 10),
        );
        let swept: Vec<_> = [a, b, c, d]
            .into_iter()
            .flat_map(|sweep| sweep.unwrap())
            .collect();
        assert_eq!(swept.len(), 1, "one sweep fails the post: {swept:?}");
        let failed = &swept[0];
        assert_eq!(failed.workspace_id, ws);
        assert_eq!(failed.item.id, due.id);
        assert_eq!(failed.item.status, PostStatus::Failed);
        assert_eq!(failed.item.failure_reason, Some(PostFailureReason::NotRun));
        assert_eq!(failed.item.failed_at, Some(past_grace));
        let detail = failed.item.failure_detail.as_deref().unwrap_or_default();
        assert!(detail.contains("1h"), "{detail}");
        assert!(
            store
                .fail_unrun_posts(past_grace, HOUR, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.get_post(&ws, &due.id).await.unwrap(),
            Some(failed.item.clone())
        );
        let late_report = store.record_post_result(&ws, &due.id, &published()).await;
        let message = conflict_message(late_report);
        assert!(message.contains("`failed` (not_run)"), "{message}");
        let untouched = store.get_post(&ws, &tomorrow.id).await.unwrap().unwrap();
        assert_eq!(untouched.status, PostStatus::Scheduled);
        let untouched = store.get_post(&ws, &reported.id).await.unwrap().unwrap();
        assert_eq!(untouched.status, PostStatus::Published);

        let claimed = claim_all(store, "w1", past_grace + chrono::Duration::seconds(1)).await;
        let failures: Vec<&ClaimedDelivery> = claimed
            .iter()
            .filter(|d| d.event_type == EventType::PostFailed)
            .collect();
        assert_eq!(failures.len(), 1, "{claimed:?}");
        assert_eq!(failures[0].event_id, failed.event_id);
        let data = &envelope(failures[0])["data"];
        assert_eq!(data["reason"], json!("not_run"));
        assert_eq!(data["post"]["id"], json!(due.id));
        assert_eq!(data["post"]["failure_reason"], json!("not_run"));
    }

    pub async fn a_campaign_completes_once_when_a_new_lead_reaches_its_target(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::CampaignCompleted]).await;
        let targeted = store
            .create_campaign(&ws, &campaign(json!({"target_leads": 2})))
            .await
            .unwrap();
        let open_ended = store
            .create_campaign(&ws, &campaign(json!({})))
            .await
            .unwrap();
        let ws_ref = ws.as_str();
        let add = |campaign_id: String| async move {
            let body = lead(json!({"name": "L", "campaign_id": campaign_id}));
            store.create_lead(ws_ref, &body).await.unwrap();
        };
        let status =
            |id: String| async move { store.get_campaign(ws_ref, &id).await.unwrap().unwrap() };

        add(targeted.id.clone()).await;
        assert_eq!(
            status(targeted.id.clone()).await.status,
            CampaignStatus::Active
        );
        add(targeted.id.clone()).await;
        let completed = status(targeted.id.clone()).await;
        assert_eq!(completed.status, CampaignStatus::Completed);
        assert!(completed.completed_at.is_some());
        add(targeted.id.clone()).await;
        add(open_ended.id.clone()).await;
        assert_eq!(
            status(targeted.id.clone()).await,
            completed,
            "completed once"
        );

        let far = later(10 * 365 * 86_400);
        assert!(
            store
                .complete_due_campaigns(far, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            status(open_ended.id.clone()).await.status,
            CampaignStatus::Active,
            "no end date and no target: it never completes by itself"
        );

        let claimed = claim_all(store, "w1", later(1)).await;
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(claimed[0].event_type, EventType::CampaignCompleted);
        let data = &envelope(&claimed[0])["data"];
        assert_eq!(data["reason"], json!("target_reached"));
        assert_eq!(data["leads"], json!(2));
        assert_eq!(data["campaign"]["id"], json!(targeted.id));
        assert_eq!(data["campaign"]["status"], json!("completed"));
        assert_eq!(
            data["campaign"]["completed_at"],
            json!(time::rfc3339(completed.completed_at.unwrap()))
        );
    }

    pub async fn campaigns_complete_once_when_their_end_date_passes(store: &dyn Store) {
        let ws = workspace(store, "acme").await;
        endpoint(store, &ws, &[EventType::CampaignCompleted]).await;
        let ends_at = time::rfc3339(later(60));
        let ending = store
            .create_campaign(
                &ws,
                &campaign(json!({"ends_at": ends_at, "target_leads": 5})),
            )
            .await
            .unwrap();
        let body = lead(json!({"name": "L", "campaign_id": ending.id}));
        store.create_lead(&ws, &body).await.unwrap();
        let next_month = time::rfc3339(later(30 * 86_400));
        let running = store
            .create_campaign(&ws, &campaign(json!({"ends_at": next_month})))
            .await
            .unwrap();

        let before = later(30);
        assert!(
            store
                .complete_due_campaigns(before, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let after = later(61);
        let (a, b, c) = tokio::join!(
            store.complete_due_campaigns(after, 10),
            store.complete_due_campaigns(after, 10),
            store.complete_due_campaigns(after, 10),
        );
        let completed: Vec<_> = [a, b, c]
            .into_iter()
            .flat_map(|sweep| sweep.unwrap())
            .collect();
        assert_eq!(completed.len(), 1, "one sweep completes it: {completed:?}");
        let done = &completed[0];
        assert_eq!(done.workspace_id, ws);
        assert_eq!(done.item.campaign.id, ending.id);
        assert_eq!(done.item.reason, CompletionReason::EndDate);
        assert_eq!(done.item.leads, 1);
        assert_eq!(done.item.campaign.completed_at, Some(after));
        assert!(
            store
                .complete_due_campaigns(after, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.get_campaign(&ws, &ending.id).await.unwrap(),
            Some(done.item.campaign.clone())
        );
        let still = store.get_campaign(&ws, &running.id).await.unwrap().unwrap();
        assert_eq!(still.status, CampaignStatus::Active);

        let claimed = claim_all(store, "w1", later(120)).await;
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(claimed[0].event_id, done.event_id);
        let data = &envelope(&claimed[0])["data"];
        assert_eq!(data["reason"], json!("end_date"));
        assert_eq!(data["leads"], json!(1));
        assert_eq!(data["campaign"]["status"], json!("completed"));

        // A backlog larger than one batch is worked off batch by batch.
        for _ in 0..3 {
            let ends_at = time::rfc3339(later(100));
            let body = campaign(json!({"ends_at": ends_at}));
            store.create_campaign(&ws, &body).await.unwrap();
        }
        let backlog = later(200);
        assert_eq!(
            store
                .complete_due_campaigns(backlog, 2)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            store
                .complete_due_campaigns(backlog, 2)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .complete_due_campaigns(backlog, 2)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

macro_rules! conformance {
    ($backend:ident, $open:path) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let Some((store, _guard)) = $open().await else {
                            return;
                        };
                        cases::$name(store.as_ref()).await;
                    }
                };
            }

            case!(workspaces_have_unique_names_and_are_found_by_name_or_id);
            case!(tokens_are_stored_as_hashes_and_resolve_to_their_workspace);
            case!(rotated_tokens_work_until_the_grace_ends_and_revoked_ones_stop);
            case!(agency_seat_tokens_are_capped_by_seats);
            case!(the_audit_log_pages_per_workspace_and_filters_by_token);
            case!(idempotency_keys_replay_conflict_and_expire);
            case!(campaigns_are_listed_newest_first_per_workspace);
            case!(leads_filter_by_stage_tag_owner_campaign_and_activity);
            case!(pages_neither_repeat_nor_skip_while_leads_are_added);
            case!(lead_patches_change_fields_and_append_notes);
            case!(an_inbound_message_replies_and_queues_one_delivery_per_subscriber);
            case!(activities_emit_their_events_and_advance_the_stage);
            case!(claims_are_exclusive_until_released_or_expired);
            case!(claims_respect_the_per_endpoint_cap_and_skipped_endpoints);
            case!(claims_respect_the_per_workspace_cap_and_release_what_they_return);
            case!(attempts_are_recorded_and_move_the_delivery_on);
            case!(an_answer_holding_nul_is_recorded);
            case!(the_queue_summary_counts_pending_and_due_deliveries);
            case!(endpoint_formats_are_kept_and_handed_to_the_dispatcher);
            case!(a_rate_limited_attempt_is_made_again_under_the_same_number);
            case!(a_gone_endpoint_is_disabled_and_its_queue_cancelled);
            case!(deleting_an_endpoint_hides_it_and_cancels_its_queue);
            case!(the_delivery_log_shows_only_the_last_hundred_attempts);
            case!(plan_changes_emit_subscription_created_naming_the_previous_plan);
            case!(subscription_events_reach_only_workspaces_on_the_agency_plan);
            case!(cancelling_stops_tokens_and_refuses_further_changes);
            case!(members_are_added_once_and_removed_with_their_events);
            case!(managed_workspaces_are_found_by_owner_and_change_in_place);
            case!(endpoints_change_in_place_and_keep_a_delivery_s_decision);
            case!(signals_are_recorded_with_their_alert_and_listed_newest_first);
            case!(a_signal_about_an_unknown_lead_is_refused_and_writes_nothing);
            case!(posts_are_scheduled_listed_by_status_and_kept_per_workspace);
            case!(a_reported_result_is_recorded_once_with_its_event);
            case!(unreported_posts_fail_as_not_run_once_however_many_sweep);
            case!(a_campaign_completes_once_when_a_new_lead_reaches_its_target);
            case!(campaigns_complete_once_when_their_end_date_passes);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_claims_take_each_delivery_once() {
                let Some((store, _guard)) = $open().await else {
                    return;
                };
                cases::concurrent_claims_take_each_delivery_once(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn writers_in_parallel_lose_nothing() {
                let Some((store, _guard)) = $open().await else {
                    return;
                };
                cases::writers_in_parallel_lose_nothing(store).await;
            }
        }
    };
}

async fn open_sqlite() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/store.db", dir.path().display());
    Some((socialscalr_core::store::open(&url).await.unwrap(), dir))
}

/// A store on a database of its own on the suite's PostgreSQL server.
async fn open_postgres() -> Option<(Arc<dyn Store>, ())> {
    let url = socialscalr_core::testing::fresh_postgres_database().await?;
    Some((socialscalr_core::store::open(&url).await.unwrap(), ()))
}

conformance!(sqlite, open_sqlite);
conformance!(postgres, open_postgres);
