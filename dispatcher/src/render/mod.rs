//! Events as chat messages, for endpoints whose format is `slack` or `discord`: pure
//! functions of the stored envelope, so every attempt of a delivery sends the same bytes,
//! and within the size limits each service documents, so that no event is refused for
//! being too long.

mod discord;
mod slack;
mod summary;
mod text;

use std::borrow::Cow;

use socialscalr_core::model::EndpointFormat;

/// The body an endpoint of `format` is sent for the envelope `payload`.
pub fn body(format: EndpointFormat, payload: &str) -> Cow<'_, str> {
    match format {
        EndpointFormat::Json => Cow::Borrowed(payload),
        EndpointFormat::Slack => {
            Cow::Owned(slack::message(&summary::summarize(payload)).to_string())
        }
        EndpointFormat::Discord => {
            Cow::Owned(discord::message(&summary::summarize(payload)).to_string())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};
    use socialscalr_core::event::EventType;

    use super::*;

    pub fn envelope(event: &str, data: Value) -> String {
        json!({
            "event": event,
            "id": "evt_01J0000000000000000000000",
            "workspace_id": "ws_01J0000000000000000000000",
            "created_at": "2026-05-24T15:32:11Z",
            "data": data
        })
        .to_string()
    }

    /// Data for every event type, as the platform emits or is expected to emit it, and
    /// an event type this module does not know.
    pub fn samples() -> Vec<(&'static str, Value)> {
        let lead = json!({
            "id": "ld_1", "name": "Sarah Chen", "company": "Northwind", "title": "CEO",
            "stage": "replied", "linkedin_url": "https://www.linkedin.com/in/sarahchen",
            "tags": ["founder"], "custom_fields": {}
        });
        let post = json!({
            "id": "pst_1", "text": "Three lessons from our first year.", "status": "published",
            "linkedin_url": "https://www.linkedin.com/feed/update/1",
            "failure_reason": "browser_closed"
        });
        let samples = vec![
            (
                "lead.connected",
                json!({"lead": lead, "activity": {"type": "connected"}}),
            ),
            (
                "lead.replied",
                json!({"lead": lead, "message": {"direction": "inbound",
                                                 "text": "Sure - send a link."}}),
            ),
            (
                "lead.opened",
                json!({"lead": lead, "activity": {"type": "opened",
                                                  "post_url": "https://lnkd.in/p/1"}}),
            ),
            (
                "campaign.completed",
                json!({"campaign": {"id": "cmp_1", "name": "Q3 founders",
                                    "status": "completed", "target_leads": 50},
                       "reason": "target_reached"}),
            ),
            ("post.published", json!({"post": post})),
            ("post.failed", json!({"post": post})),
            (
                "watchtower.alert",
                json!({"signal": {"id": "sig_1", "title": "Northwind raised a Series B",
                                  "type": "funding", "summary": "$40M led by Example"}}),
            ),
            (
                "subscription.created",
                json!({"plan": "agency", "seats": 10}),
            ),
            ("subscription.cancelled", json!({"plan": "pro"})),
            (
                "team.member_added",
                json!({"member": {"email": "ana@acme.test", "role": "admin"}}),
            ),
            (
                "team.member_removed",
                json!({"member": {"email": "ana@acme.test"}}),
            ),
            (
                "invoice.paid",
                json!({"amount_cents": 4_900, "customer": {"name": "Acme"}}),
            ),
        ];
        let covered: Vec<&str> = samples.iter().map(|(event, _)| *event).collect();
        assert!(EventType::ALL.iter().all(|e| covered.contains(&e.as_str())));
        samples
    }

    #[test]
    fn json_endpoints_get_the_stored_envelope_byte_for_byte() {
        let payload = envelope("lead.replied", json!({"x": 1}));
        assert!(matches!(
            body(EndpointFormat::Json, &payload),
            Cow::Borrowed(same) if same == payload
        ));
    }

    #[test]
    fn chat_bodies_are_json_and_the_same_on_every_attempt() {
        for (event, data) in samples() {
            let payload = envelope(event, data);
            for format in [EndpointFormat::Slack, EndpointFormat::Discord] {
                let once = body(format, &payload);
                let parsed: Value = serde_json::from_str(&once).unwrap();
                assert!(parsed.is_object(), "{event} {format}");
                assert_eq!(once, body(format, &payload));
                assert!(
                    once.contains("evt_01J0000000000000000000000"),
                    "{event} {format}"
                );
            }
        }
    }

    #[test]
    fn key_facts_of_each_event_reach_both_services() {
        let expected = [
            ("lead.connected", "Sarah Chen"),
            ("lead.replied", "Sure - send a link."),
            ("lead.opened", "https://lnkd.in/p/1"),
            ("campaign.completed", "Q3 founders"),
            ("post.published", "Three lessons from our first year."),
            ("post.failed", "browser\\\\_closed"),
            ("watchtower.alert", "Northwind raised a Series B"),
            ("subscription.created", "agency"),
            ("subscription.cancelled", "pro"),
            ("team.member_added", "ana\\\\@acme.test"),
            ("team.member_removed", "ana\\\\@acme.test"),
            ("invoice.paid", "Acme"),
        ];
        let samples = samples();
        for (event, fact) in expected {
            let data = samples.iter().find(|(e, _)| *e == event).unwrap().1.clone();
            let payload = envelope(event, data);
            let discord = body(EndpointFormat::Discord, &payload);
            assert!(discord.contains(fact), "{event}: {discord}");
            // Slack escapes nothing of these; Discord escapes markdown with backslashes.
            let slack = body(EndpointFormat::Slack, &payload);
            let plain = fact.replace("\\\\", "");
            assert!(slack.contains(&plain), "{event}: {slack}");
        }
    }
}
