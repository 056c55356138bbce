//! What a chat message says about an event, read from the stored envelope: a title, the
//! words someone wrote (a reply, a post, a signal), and labelled facts. Every event type
//! gets one, including types and data shapes this module has no special reading for.

use serde_json::{Map, Value};
use socialscalr_core::event::EventType;

/// A labelled value, such as `Company: Northwind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: String,
    pub value: String,
    /// An identifier, shown as code.
    pub code: bool,
}

/// How an event feels, shown as the colour of a Discord embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Info,
    Warning,
    Bad,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The event type as the envelope names it.
    pub event: String,
    pub event_id: String,
    pub workspace_id: String,
    /// RFC 3339, as in the envelope.
    pub created_at: Option<String>,
    pub title: String,
    /// Words someone wrote, shown as a quote.
    pub quote: Option<String>,
    /// A note from the platform, such as where to fetch data too large to send.
    pub note: Option<String>,
    pub facts: Vec<Fact>,
    pub tone: Tone,
}

/// Reads an envelope; anything unreadable still gives a summary naming the event.
pub fn summarize(payload: &str) -> Summary {
    let envelope: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let field = |name: &str| text(&envelope, &[name]).map(str::to_owned);
    let event = field("event").unwrap_or_else(|| "event".to_owned());
    let data = envelope.get("data").unwrap_or(&Value::Null);
    let mut summary = Summary {
        event_id: field("id").unwrap_or_default(),
        workspace_id: field("workspace_id").unwrap_or_default(),
        created_at: field("created_at"),
        title: String::new(),
        quote: None,
        note: None,
        facts: Vec::new(),
        tone: Tone::Neutral,
        event,
    };

    if data.get("truncated").and_then(Value::as_bool) == Some(true) {
        describe_reference(&mut summary, data);
    } else {
        match summary.event.parse::<EventType>() {
            Ok(kind) => describe(&mut summary, kind, data),
            Err(_) => summary.title = format!("New event: {}", summary.event),
        }
    }
    if summary.facts.is_empty() && summary.quote.is_none() && summary.note.is_none() {
        summary.facts = generic_facts(data);
    }
    summary
}

fn describe(summary: &mut Summary, kind: EventType, data: &Value) {
    let lead = data.get("lead").unwrap_or(&Value::Null);
    let post = data.get("post").unwrap_or(&Value::Null);
    let campaign = data.get("campaign").unwrap_or(&Value::Null);
    let signal = first_value(data, &["signal", "alert"]);
    let member = first_value(data, &["member", "user"]);
    let name = || lead_name(lead);
    let (title, tone) = match kind {
        EventType::LeadConnected => (format!("{} accepted your invitation", name()), Tone::Good),
        EventType::LeadReplied => (format!("{} replied", name()), Tone::Good),
        EventType::LeadOpened => (format!("{} engaged with your post", name()), Tone::Info),
        EventType::CampaignCompleted => (
            match text(campaign, &["name"]) {
                Some(name) => format!("Campaign completed: {name}"),
                None => "A campaign completed".to_owned(),
            },
            Tone::Info,
        ),
        EventType::PostPublished => ("Post published on LinkedIn".to_owned(), Tone::Good),
        EventType::PostFailed => ("Post failed to publish".to_owned(), Tone::Bad),
        EventType::WatchtowerAlert => (
            match first_text(signal, &[&["title"], &["headline"], &["type"], &["kind"]]) {
                Some(title) => format!("Watchtower: {title}"),
                None => "Watchtower signal".to_owned(),
            },
            Tone::Warning,
        ),
        EventType::SubscriptionCreated => ("Subscription started".to_owned(), Tone::Good),
        EventType::SubscriptionCancelled => ("Subscription cancelled".to_owned(), Tone::Neutral),
        EventType::TeamMemberAdded => (
            format!("{} joined the workspace", person(member, "A team member")),
            Tone::Good,
        ),
        EventType::TeamMemberRemoved => (
            format!("{} left the workspace", person(member, "A team member")),
            Tone::Neutral,
        ),
    };
    summary.title = title;
    summary.tone = tone;

    let mut facts = Facts::default();
    match kind {
        EventType::LeadConnected | EventType::LeadReplied | EventType::LeadOpened => {
            if kind == EventType::LeadReplied {
                summary.quote = text(data, &["message", "text"]).map(str::to_owned);
            }
            if kind == EventType::LeadOpened {
                facts.add("Post", text(data, &["activity", "post_url"]));
            }
            facts.add("Company", text(lead, &["company"]));
            facts.add("Title", text(lead, &["title"]));
            facts.add("Stage", text(lead, &["stage"]));
            facts.add("Owner", text(lead, &["owner"]));
            facts.add("LinkedIn", text(lead, &["linkedin_url"]));
            facts.add_id("Lead", text(lead, &["id"]));
        }
        EventType::CampaignCompleted => {
            facts.add(
                "Reason",
                first_text(data, &[&["reason"], &["campaign", "reason"]]),
            );
            facts.add("Status", text(campaign, &["status"]));
            facts.add_value("Leads", first_scalar(data, &["leads", "lead_count"]));
            facts.add_value("Target leads", first_scalar(campaign, &["target_leads"]));
            facts.add("Completed", text(campaign, &["completed_at"]));
            facts.add_id("Campaign", text(campaign, &["id"]));
        }
        EventType::PostPublished | EventType::PostFailed => {
            summary.quote = first_text(post, &[&["text"], &["content"]]).map(str::to_owned);
            if kind == EventType::PostFailed {
                facts.add(
                    "Reason",
                    first_text(data, &[&["post", "failure_reason"], &["reason"]]),
                );
                facts.add(
                    "Detail",
                    first_text(data, &[&["post", "failure_detail"], &["detail"]]),
                );
                facts.add("Scheduled", text(post, &["scheduled_at"]));
            } else {
                facts.add("LinkedIn", text(post, &["linkedin_url"]));
                facts.add("Published", text(post, &["published_at"]));
            }
            facts.add_id("Post", text(post, &["id"]));
        }
        EventType::WatchtowerAlert => {
            summary.quote = first_text(
                signal,
                &[&["summary"], &["text"], &["description"], &["excerpt"]],
            )
            .map(str::to_owned);
            facts.add("Type", first_text(signal, &[&["type"], &["kind"]]));
            facts.add(
                "Account",
                first_text(signal, &[&["company"], &["account"], &["lead", "name"]]),
            );
            facts.add_value("Score", first_scalar(signal, &["score", "strength"]));
            facts.add(
                "Link",
                first_text(signal, &[&["url"], &["source_url"], &["link"]]),
            );
            facts.add_id("Signal", text(signal, &["id"]));
        }
        EventType::SubscriptionCreated | EventType::SubscriptionCancelled => {
            let plan = first_text(
                data,
                &[&["plan"], &["subscription", "plan"], &["workspace", "plan"]],
            );
            facts.add("Plan", plan);
            facts.add_value(
                "Seats",
                first_scalar(data, &["seats"])
                    .or_else(|| first_scalar(data.get("subscription")?, &["seats"])),
            );
            facts.add(
                "Ends",
                first_text(data, &[&["ends_at"], &["subscription", "ends_at"]]),
            );
        }
        EventType::TeamMemberAdded | EventType::TeamMemberRemoved => {
            facts.add("Email", text(member, &["email"]));
            facts.add("Role", text(member, &["role"]));
        }
    }
    summary.facts = facts.0;
}

/// An envelope whose data was too large carries a reference to the resource instead.
fn describe_reference(summary: &mut Summary, data: &Value) {
    let resource = data.get("resource").unwrap_or(&Value::Null);
    summary.title = format!("New event: {}", summary.event);
    summary.note = Some(match text(resource, &["url"]) {
        Some(url) => format!("The event is too large to show here; fetch it from {url}"),
        None => "The event is too large to show here.".to_owned(),
    });
    let mut facts = Facts::default();
    facts.add("Resource", text(resource, &["type"]));
    facts.add_id("Id", text(resource, &["id"]));
    summary.facts = facts.0;
}

/// Each top-level field of the data, for events this module has no reading for.
fn generic_facts(data: &Value) -> Vec<Fact> {
    let Some(object) = data.as_object() else {
        return match scalar(data) {
            Some(value) => vec![Fact {
                label: "Data".to_owned(),
                value,
                code: false,
            }],
            None => Vec::new(),
        };
    };
    object
        .iter()
        .filter_map(|(key, value)| {
            let value = describe_value(value)?;
            Some(Fact {
                label: humanize(key),
                value,
                code: false,
            })
        })
        .collect()
}

/// A value in a few words: a scalar as it is, an object by its name, title or id.
fn describe_value(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Object(object) => Some(named(object).unwrap_or_else(|| value.to_string())),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|item| match item {
                    Value::Object(object) => named(object),
                    other => scalar(other),
                })
                .collect();
            Some(parts.map_or_else(|| value.to_string(), |parts| parts.join(", ")))
        }
        other => scalar(other),
    }
}

fn named(object: &Map<String, Value>) -> Option<String> {
    ["name", "title", "text", "email", "id"]
        .iter()
        .find_map(|key| object.get(*key).and_then(scalar))
}

/// `custom_fields` → `Custom fields`; a blank key becomes `Field`.
fn humanize(key: &str) -> String {
    let spaced = key.replace(['_', '-', '.'], " ");
    let mut chars = spaced.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None if key.trim().is_empty() => "Field".to_owned(),
        None => key.to_owned(),
    }
}

#[derive(Default)]
struct Facts(Vec<Fact>);

impl Facts {
    fn add(&mut self, label: &str, value: Option<&str>) {
        self.add_value(label, value.map(str::to_owned));
    }

    fn add_value(&mut self, label: &str, value: Option<String>) {
        self.push(label, value, false);
    }

    fn add_id(&mut self, label: &str, value: Option<&str>) {
        self.push(label, value.map(str::to_owned), true);
    }

    fn push(&mut self, label: &str, value: Option<String>, code: bool) {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            self.0.push(Fact {
                label: label.to_owned(),
                value,
                code,
            });
        }
    }
}

fn lead_name(lead: &Value) -> String {
    person(lead, "A lead")
}

/// A person's name, else their email or profile, else `fallback`.
fn person(value: &Value, fallback: &str) -> String {
    first_text(value, &[&["name"], &["email"], &["linkedin_url"], &["id"]])
        .unwrap_or(fallback)
        .to_owned()
}

/// A non-blank string at `path`.
fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))?
        .as_str()
        .filter(|text| !text.trim().is_empty())
}

fn first_text<'a>(value: &'a Value, paths: &[&[&str]]) -> Option<&'a str> {
    paths.iter().find_map(|path| text(value, path))
}

fn first_value<'a>(value: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter()
        .find_map(|key| value.get(key).filter(|v| v.is_object()))
        .unwrap_or(&Value::Null)
}

fn first_scalar(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| value.get(key).and_then(scalar))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A reply's summary with `facts` facts of `value`, for the renderers' tests.
#[cfg(test)]
pub fn sample(quote: Option<&str>, facts: usize, value: &str) -> Summary {
    Summary {
        event: "lead.replied".into(),
        event_id: "evt_1".into(),
        workspace_id: "ws_1".into(),
        created_at: Some("2026-05-24T15:32:11Z".into()),
        title: "Sarah Chen replied".into(),
        quote: quote.map(str::to_owned),
        note: None,
        facts: (0..facts)
            .map(|n| Fact {
                label: format!("Fact {n}"),
                value: value.to_owned(),
                code: false,
            })
            .collect(),
        tone: Tone::Good,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub fn envelope(event: &str, data: Value) -> String {
        json!({
            "event": event,
            "id": "evt_1",
            "workspace_id": "ws_1",
            "created_at": "2026-05-24T15:32:11Z",
            "data": data
        })
        .to_string()
    }

    fn fact<'a>(summary: &'a Summary, label: &str) -> Option<&'a str> {
        summary
            .facts
            .iter()
            .find(|f| f.label == label)
            .map(|f| f.value.as_str())
    }

    #[test]
    fn a_reply_names_the_lead_and_quotes_the_message() {
        let summary = summarize(&envelope(
            "lead.replied",
            json!({
                "lead": {"id": "ld_1", "name": "Sarah Chen", "company": "Northwind",
                         "stage": "replied", "owner": null},
                "message": {"direction": "inbound", "text": "Sure - send a link."}
            }),
        ));
        assert_eq!(summary.title, "Sarah Chen replied");
        assert_eq!(summary.quote.as_deref(), Some("Sure - send a link."));
        assert_eq!(fact(&summary, "Company"), Some("Northwind"));
        assert_eq!(fact(&summary, "Owner"), None, "null facts are left out");
        assert_eq!(
            (summary.event.as_str(), summary.event_id.as_str()),
            ("lead.replied", "evt_1")
        );
        assert_eq!(summary.workspace_id, "ws_1");
        assert_eq!(summary.created_at.as_deref(), Some("2026-05-24T15:32:11Z"));
    }

    #[test]
    fn a_lead_without_a_name_is_named_by_email_or_profile() {
        let summary = summarize(&envelope(
            "lead.connected",
            json!({"lead": {"id": "ld_1", "linkedin_url": "https://linkedin.com/in/x"}}),
        ));
        assert_eq!(
            summary.title,
            "https://linkedin.com/in/x accepted your invitation"
        );
        let summary = summarize(&envelope("lead.opened", json!({})));
        assert_eq!(summary.title, "A lead engaged with your post");
    }

    #[test]
    fn each_event_type_has_its_own_title_and_key_facts() {
        let cases = [
            (
                "campaign.completed",
                json!({"campaign": {"id": "cmp_1", "name": "Q3 founders", "target_leads": 50},
                       "reason": "target_reached"}),
                "Campaign completed: Q3 founders",
                ("Reason", "target_reached"),
            ),
            (
                "post.published",
                json!({"post": {"id": "pst_1", "text": "We are hiring",
                                "linkedin_url": "https://linkedin.com/feed/1"}}),
                "Post published on LinkedIn",
                ("LinkedIn", "https://linkedin.com/feed/1"),
            ),
            (
                "post.failed",
                json!({"post": {"id": "pst_1", "text": "We are hiring",
                                "failure_reason": "browser_closed"}}),
                "Post failed to publish",
                ("Reason", "browser_closed"),
            ),
            (
                "watchtower.alert",
                json!({"signal": {"id": "sig_1", "title": "Northwind raised a Series B",
                                  "type": "funding", "summary": "$40M led by X"}}),
                "Watchtower: Northwind raised a Series B",
                ("Type", "funding"),
            ),
            (
                "subscription.created",
                json!({"plan": "agency", "seats": 10}),
                "Subscription started",
                ("Seats", "10"),
            ),
            (
                "subscription.cancelled",
                json!({"subscription": {"plan": "pro"}}),
                "Subscription cancelled",
                ("Plan", "pro"),
            ),
            (
                "team.member_added",
                json!({"member": {"email": "ana@acme.test", "role": "admin"}}),
                "ana@acme.test joined the workspace",
                ("Role", "admin"),
            ),
            (
                "team.member_removed",
                json!({"member": {"name": "Ana", "email": "ana@acme.test"}}),
                "Ana left the workspace",
                ("Email", "ana@acme.test"),
            ),
        ];
        for (event, data, title, (label, value)) in cases {
            let summary = summarize(&envelope(event, data));
            assert_eq!(summary.title, title, "{event}");
            assert_eq!(fact(&summary, label), Some(value), "{event}: {summary:?}");
        }
        let post = summarize(&envelope(
            "post.published",
            json!({"post": {"text": "We are hiring"}}),
        ));
        assert_eq!(post.quote.as_deref(), Some("We are hiring"));
        let signal = summarize(&envelope(
            "watchtower.alert",
            json!({"signal": {"title": "t", "summary": "$40M led by X"}}),
        ));
        assert_eq!(signal.quote.as_deref(), Some("$40M led by X"));
        assert_eq!(signal.tone, Tone::Warning);
    }

    #[test]
    fn unknown_events_and_unexpected_data_list_the_top_level_fields() {
        let summary = summarize(&envelope(
            "invoice.paid",
            json!({"amount_cents": 4900, "paid": true, "customer": {"name": "Acme"},
                   "lines": ["seat", "addon"], "note": null, "empty": []}),
        ));
        assert_eq!(summary.title, "New event: invoice.paid");
        let mut facts: Vec<(&str, &str)> = summary
            .facts
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        // The data's own key order, whichever order the JSON map keeps.
        facts.sort_unstable();
        assert_eq!(
            facts,
            vec![
                ("Amount cents", "4900"),
                ("Customer", "Acme"),
                ("Lines", "seat, addon"),
                ("Paid", "true"),
            ]
        );

        // A known type whose data has none of the expected fields still shows them.
        let summary = summarize(&envelope("campaign.completed", json!({"total": 12})));
        assert_eq!(summary.title, "A campaign completed");
        assert_eq!(fact(&summary, "Total"), Some("12"));
    }

    #[test]
    fn data_replaced_by_a_reference_says_where_to_fetch_it() {
        let summary = summarize(&envelope(
            "lead.replied",
            json!({"truncated": true,
                   "resource": {"type": "lead", "id": "ld_1", "url": "/api/v1/leads/ld_1"}}),
        ));
        assert!(
            summary
                .note
                .as_deref()
                .unwrap()
                .contains("/api/v1/leads/ld_1"),
            "{summary:?}"
        );
        assert_eq!(fact(&summary, "Id"), Some("ld_1"));
    }

    #[test]
    fn an_unreadable_payload_still_gives_a_summary() {
        let summary = summarize("not json");
        assert_eq!(summary.title, "New event: event");
        assert!(summary.facts.is_empty());
    }
}
