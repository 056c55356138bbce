//! Posts and campaigns end to end: `post.published`, `post.failed` (reported, and not run
//! by the scheduler) and `campaign.completed` (target reached, end date passed) driven
//! over HTTP against the real `socialscalr dev` binary, each arriving signed at a receiver
//! on 127.0.0.1 exactly once. Build the binaries first: `cargo build --workspace --bins`.

mod support;

use std::collections::BTreeSet;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use support::{Api, Dev, Received, Receiver, SignedBody, eventually, hmac_hex, verify_with_node};

const LINKEDIN_POST: &str = "https://www.linkedin.com/feed/update/urn:li:activity:7001";

/// A dev process whose scheduler sweeps every second and fails a post one second after
/// its time, so that the scheduler's events happen within a test.
async fn fast_dev() -> Dev {
    Dev::start_with_env(&[
        ("SOCIALSCALR_POST_GRACE", "1s"),
        ("SOCIALSCALR_SCHEDULER_INTERVAL", "1s"),
    ])
    .await
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {value}"))
}

/// An RFC 3339 time `seconds` from now.
fn from_now(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn register_webhook(api: &Api, url: &str, events: &[&str]) -> String {
    let created = api
        .create("/api/v1/webhooks", json!({"url": url, "events": events}))
        .await;
    text(&created, "secret").to_owned()
}

async fn schedule_post(api: &Api, text_of_post: &str, seconds_ahead: i64) -> String {
    let body = json!({"text": text_of_post, "scheduled_at": from_now(seconds_ahead)});
    let post = api.create("/api/v1/posts", body).await;
    assert_eq!(post["status"], json!("scheduled"), "{post}");
    text(&post, "id").to_owned()
}

/// Reports a post's result and returns the answer, which must be 200.
async fn report_result(api: &Api, post_id: &str, result: Value) -> Value {
    let path = format!("/api/v1/posts/{post_id}/result");
    let answer = api.post(&path, result).await;
    assert_eq!(answer.status, 200, "POST {path}: {}", answer.body);
    answer.body
}

fn envelope(request: &Received) -> Value {
    serde_json::from_slice(&request.body).expect("a delivery's body is JSON")
}

/// The deliveries of events about one resource (`data.post.id` or `data.campaign.id`).
fn deliveries_about<'a>(received: &'a [Received], kind: &str, id: &str) -> Vec<&'a Received> {
    received
        .iter()
        .filter(|request| envelope(request)["data"][kind]["id"] == json!(id))
        .collect()
}

/// Waits until an event about the resource arrived; returns every delivery about it.
async fn wait_for_event_about(receiver: &Receiver, kind: &str, id: &str) -> Vec<Received> {
    eventually(&format!("an event about {kind} {id}"), || {
        let received = receiver.received();
        let found: Vec<Received> = deliveries_about(&received, kind, id)
            .into_iter()
            .cloned()
            .collect();
        async move { (!found.is_empty()).then_some(found) }
    })
    .await
}

/// The one delivery about a resource, checked to be one event of `event`, signed with
/// `secret`; returns its envelope.
fn the_one_event(received: &[Received], kind: &str, id: &str, event: &str, secret: &str) -> Value {
    let deliveries = deliveries_about(received, kind, id);
    assert_eq!(
        deliveries.len(),
        1,
        "one delivery about {kind} {id}: {deliveries:?}"
    );
    let delivery = deliveries[0];
    assert_eq!(delivery.answered, 200);
    assert_eq!(delivery.header("x-socialscalr-event"), event);
    assert_eq!(
        delivery.header("x-socialscalr-signature"),
        format!("sha256={}", hmac_hex(secret, &[delivery.body.as_ref()])),
        "signed with the endpoint's secret"
    );
    let envelope = envelope(delivery);
    assert_eq!(envelope["event"], json!(event), "{envelope}");
    assert_eq!(
        delivery.header("x-socialscalr-event-id"),
        text(&envelope, "id")
    );
    envelope
}

async fn assert_node_verifies(received: &[Received], secret: &str) {
    let signed: Vec<SignedBody> = received
        .iter()
        .map(|request| SignedBody::of(request, secret))
        .collect();
    let verdict = verify_with_node(&signed).await;
    assert!(
        verdict.success,
        "node refused a delivery:\n{}\n{}",
        verdict.stdout, verdict.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_results_and_unrun_posts_arrive_once_as_signed_webhooks() {
    let receiver = Receiver::start().await;
    let dev = fast_dev().await;
    let api = dev.api();
    let secret = register_webhook(
        &api,
        &receiver.url("/hook"),
        &["post.published", "post.failed"],
    )
    .await;

    // Published, as the outreach engine reports it; a retried report changes nothing.
    let published = schedule_post(&api, "We are hiring.", 3_600).await;
    let outcome = json!({"outcome": "published", "linkedin_url": LINKEDIN_POST});
    let first = report_result(&api, &published, outcome.clone()).await;
    assert_eq!(first["status"], json!("published"), "{first}");
    let again = report_result(&api, &published, outcome).await;
    assert_eq!(again, first, "a repeated report answers the same");

    // Failed, as reported: the browser closed.
    let closed = schedule_post(&api, "Our Q3 results.", 3_600).await;
    let outcome = json!({"outcome": "failed", "reason": "browser_closed", "detail": "tab gone"});
    let failed = report_result(&api, &closed, outcome).await;
    assert_eq!(
        failed["failure_reason"],
        json!("browser_closed"),
        "{failed}"
    );
    let conflict = api
        .post(
            &format!("/api/v1/posts/{closed}/result"),
            json!({"outcome": "published", "linkedin_url": LINKEDIN_POST}),
        )
        .await;
    assert_eq!(conflict.status, 409, "{}", conflict.body);

    // Never reported: the scheduler fails it one second after its time.
    let unrun = schedule_post(&api, "Nobody runs this one.", 2).await;
    wait_for_event_about(&receiver, "post", &unrun).await;
    let stored = api.fetch(&format!("/api/v1/posts/{unrun}")).await;
    assert_eq!(stored["status"], json!("failed"), "{stored}");
    assert_eq!(stored["failure_reason"], json!("not_run"), "{stored}");
    let late = api
        .post(
            &format!("/api/v1/posts/{unrun}/result"),
            json!({"outcome": "published", "linkedin_url": LINKEDIN_POST}),
        )
        .await;
    assert_eq!(late.status, 409, "{}", late.body);

    // A later unrun post failing shows the scheduler swept again after failing the first,
    // so a duplicate of any earlier event would have been queued, and sent, by now.
    let sentinel = schedule_post(&api, "Sentinel.", 2).await;
    wait_for_event_about(&receiver, "post", &sentinel).await;
    for id in [&published, &closed] {
        wait_for_event_about(&receiver, "post", id).await;
    }

    let received = receiver.received();
    let envelope = the_one_event(&received, "post", &published, "post.published", &secret);
    assert_eq!(envelope["id"], first["event_id"], "{envelope}");
    assert_eq!(
        envelope["data"]["post"]["linkedin_url"],
        json!(LINKEDIN_POST)
    );
    assert_eq!(envelope["data"]["post"]["status"], json!("published"));

    let envelope = the_one_event(&received, "post", &closed, "post.failed", &secret);
    assert_eq!(envelope["id"], failed["event_id"], "{envelope}");
    assert_eq!(envelope["data"]["reason"], json!("browser_closed"));
    assert_eq!(envelope["data"]["detail"], json!("tab gone"));

    let envelope = the_one_event(&received, "post", &unrun, "post.failed", &secret);
    assert_eq!(envelope["data"]["reason"], json!("not_run"), "{envelope}");
    assert_eq!(envelope["data"]["post"]["id"], json!(unrun));
    assert_eq!(envelope["data"]["post"]["status"], json!("failed"));

    let event_ids: BTreeSet<&str> = received.iter().filter_map(Received::event_id).collect();
    assert_eq!(event_ids.len(), 4, "four events in all: {event_ids:?}");
    assert_node_verifies(&received, &secret).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_complete_once_on_reaching_their_target_or_end_date_across_a_restart() {
    let receiver = Receiver::start().await;
    let mut dev = fast_dev().await;
    let api = dev.api();
    let secret = register_webhook(&api, &receiver.url("/hook"), &["campaign.completed"]).await;
    let campaign = |name: &str, extra: Value| {
        let mut body = json!({
            "name": name,
            "targeting": {"source": "manual"},
            "steps": [{"type": "invite", "text": "Hi!"}]
        });
        for (key, value) in extra.as_object().expect("an object") {
            body[key] = value.clone();
        }
        body
    };
    let add_lead = |campaign_id: String, n: u32| {
        let api = &api;
        async move {
            let body = json!({"name": format!("Lead {n}"), "campaign_id": campaign_id});
            api.create("/api/v1/leads", body).await;
        }
    };

    // The second lead reaches the target; the third finds the campaign completed.
    let targeted = api
        .create(
            "/api/v1/campaigns",
            campaign("Two leads", json!({"target_leads": 2})),
        )
        .await;
    let targeted = text(&targeted, "id").to_owned();
    for n in 1..=3 {
        add_lead(targeted.clone(), n).await;
    }
    let completed = api.fetch(&format!("/api/v1/campaigns/{targeted}")).await;
    assert_eq!(completed["status"], json!("completed"), "{completed}");

    // The end date passes a couple of seconds from now, short of its target.
    let body = campaign(
        "Ends soon",
        json!({"ends_at": from_now(2), "target_leads": 50}),
    );
    let ending = api.create("/api/v1/campaigns", body).await;
    let ending = text(&ending, "id").to_owned();
    add_lead(ending.clone(), 1).await;
    wait_for_event_about(&receiver, "campaign", &targeted).await;
    wait_for_event_about(&receiver, "campaign", &ending).await;

    // A restarted process keeps its state in the store: it completes nothing twice, and
    // still completes what comes due after the restart.
    dev.stop_gracefully().await;
    dev.restart().await;
    let api = dev.api();
    let body = campaign("After the restart", json!({"ends_at": from_now(2)}));
    let sentinel = api.create("/api/v1/campaigns", body).await;
    let sentinel = text(&sentinel, "id").to_owned();
    wait_for_event_about(&receiver, "campaign", &sentinel).await;

    let received = receiver.received();
    let envelope = the_one_event(
        &received,
        "campaign",
        &targeted,
        "campaign.completed",
        &secret,
    );
    let data = &envelope["data"];
    assert_eq!(data["reason"], json!("target_reached"), "{data}");
    assert_eq!(data["leads"], json!(2), "{data}");
    assert_eq!(data["campaign"]["status"], json!("completed"), "{data}");
    assert_eq!(data["campaign"]["target_leads"], json!(2), "{data}");
    assert_eq!(
        data["campaign"]["completed_at"], completed["completed_at"],
        "{data}"
    );

    let envelope = the_one_event(
        &received,
        "campaign",
        &ending,
        "campaign.completed",
        &secret,
    );
    let data = &envelope["data"];
    assert_eq!(data["reason"], json!("end_date"), "{data}");
    assert_eq!(data["leads"], json!(1), "{data}");
    let stored = api.fetch(&format!("/api/v1/campaigns/{ending}")).await;
    assert_eq!(stored["status"], json!("completed"), "{stored}");
    assert_eq!(
        data["campaign"], stored,
        "the event carries the campaign as stored"
    );

    let envelope = the_one_event(
        &received,
        "campaign",
        &sentinel,
        "campaign.completed",
        &secret,
    );
    assert_eq!(envelope["data"]["reason"], json!("end_date"));
    assert_eq!(received.len(), 3, "three completions in all: {received:?}");
    assert_node_verifies(&received, &secret).await;
}
