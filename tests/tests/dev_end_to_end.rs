//! End to end through the real `socialscalr dev` binary, its REST API and real HTTP
//! deliveries to a receiver in the test, all on 127.0.0.1. Build the binaries first:
//! `cargo build --workspace --bins`.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::{
    Api, Dev, Received, Receiver, STOPPED_LINE, SignedBody, eventually, hmac_hex, receiver_answer,
    verify_with_node,
};

const LEAD_EVENTS: [&str; 3] = ["lead.replied", "lead.connected", "lead.opened"];
const REPLY_TEXT: &str = "Sure - send a link.";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {value}"))
}

/// Registers an endpoint and returns its id and signing secret.
async fn register_webhook(api: &Api, url: &str, events: &[&str]) -> (String, String) {
    let created = api
        .create("/api/v1/webhooks", json!({"url": url, "events": events}))
        .await;
    let secret = text(&created, "secret");
    assert!(secret.starts_with("whsec_"), "secret {secret}");
    assert_eq!(created["url"], json!(url));
    let mut subscribed: Vec<&str> = events.to_vec();
    subscribed.sort_unstable();
    let listed: BTreeSet<&str> = created["events"]
        .as_array()
        .expect("events is an array")
        .iter()
        .map(|event| event.as_str().expect("event names are strings"))
        .collect();
    assert_eq!(listed, subscribed.into_iter().collect(), "{created}");
    let id = text(&created, "id");
    assert!(id.starts_with("ep_"), "endpoint id {id}");
    (id.to_owned(), secret.to_owned())
}

async fn create_lead(api: &Api, name: &str, slug: &str) -> String {
    let url = format!("https://www.linkedin.com/in/{slug}");
    let lead = api
        .create("/api/v1/leads", json!({"name": name, "linkedin_url": url}))
        .await;
    assert_eq!(lead["stage"], json!("new"), "{lead}");
    assert_eq!(lead["linkedin_url"], json!(url));
    text(&lead, "id").to_owned()
}

/// Reports an activity or a message on a lead and returns the event id it emitted.
async fn report(api: &Api, lead_id: &str, what: &str, body: Value) -> String {
    let reported = api
        .create(&format!("/api/v1/leads/{lead_id}/{what}"), body)
        .await;
    let event_id = text(&reported, "event_id");
    assert!(event_id.starts_with("evt_"), "{reported}");
    event_id.to_owned()
}

async fn report_reply(api: &Api, lead_id: &str, reply: &str) -> String {
    let body = json!({"direction": "inbound", "text": reply});
    report(api, lead_id, "messages", body).await
}

/// Checks that a delivery is the exact envelope, signed with `secret` in both signature
/// headers, and that its headers describe it; returns the parsed envelope.
fn assert_signed_envelope(delivery: &Received, secret: &str) -> Value {
    let body = delivery.body_text();
    let envelope: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {body:?}"));
    let field = |name: &str| -> &Value {
        envelope
            .get(name)
            .unwrap_or_else(|| panic!("the envelope has no `{name}`: {body}"))
    };
    // Byte for byte: these keys in this order, compact, then `data` and nothing after it.
    let head = format!(
        r#"{{"event":{},"id":{},"workspace_id":{},"created_at":{},"data":"#,
        field("event"),
        field("id"),
        field("workspace_id"),
        field("created_at"),
    );
    let rest = body.strip_prefix(head.as_str()).unwrap_or_else(|| {
        panic!("the body does not start with event,id,workspace_id,created_at,data: {body}")
    });
    let data_text = rest
        .strip_suffix('}')
        .unwrap_or_else(|| panic!("the body does not end with the envelope's `}}`: {body:?}"));
    let data: Value = serde_json::from_str(data_text)
        .unwrap_or_else(|e| panic!("`data` is not followed by the end of the envelope ({e})"));
    assert!(data.is_object(), "data is an object: {body}");
    assert_eq!(&data, field("data"));
    assert_eq!(envelope.as_object().map(|o| o.len()), Some(5), "{body}");

    let event = text(&envelope, "event");
    let event_id = text(&envelope, "id");
    assert!(event_id.starts_with("evt_"), "{body}");
    assert!(text(&envelope, "workspace_id").starts_with("ws_"), "{body}");
    let created_at = DateTime::parse_from_rfc3339(text(&envelope, "created_at"))
        .unwrap_or_else(|e| panic!("created_at is not RFC 3339 ({e}): {body}"));
    assert!(text(&envelope, "created_at").ends_with('Z'), "{body}");

    assert_eq!(delivery.header("content-type"), CONTENT_TYPE);
    assert_eq!(
        delivery.header("x-socialscalr-signature"),
        format!("sha256={}", hmac_hex(secret, &[delivery.body.as_ref()])),
        "the body signature is the HMAC of the raw body under the endpoint secret"
    );
    assert_eq!(delivery.header("x-socialscalr-event"), event);
    assert_eq!(delivery.header("x-socialscalr-event-id"), event_id);
    let delivery_id = delivery.header("x-socialscalr-delivery-id");
    assert!(delivery_id.starts_with("del_"), "delivery id {delivery_id}");
    let attempt: u32 = delivery
        .header("x-socialscalr-attempt")
        .parse()
        .expect("the attempt header is a number");
    assert!(attempt >= 1);

    let timestamp = delivery.header("x-socialscalr-timestamp");
    let seconds: i64 = timestamp
        .parse()
        .unwrap_or_else(|_| panic!("the timestamp is whole seconds: {timestamp}"));
    assert!(
        seconds >= created_at.timestamp() && seconds <= Utc::now().timestamp(),
        "the timestamp {seconds} is in Unix seconds, between the event and now"
    );
    let signed = [timestamp.as_bytes(), b".", delivery.body.as_ref()];
    assert_eq!(
        delivery.header("x-socialscalr-signature-timestamped"),
        format!("v1={}", hmac_hex(secret, &signed)),
        "the timestamped signature is the HMAC of `<timestamp>.<body>`"
    );
    envelope
}

fn delivery_id(request: &Received) -> &str {
    request.header("x-socialscalr-delivery-id")
}

fn attempt_header(request: &Received) -> u32 {
    request
        .header("x-socialscalr-attempt")
        .parse()
        .expect("the attempt header is a number")
}

fn time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a time"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// The endpoint's delivery log, once it holds a successful attempt for every event id.
async fn delivery_log_with_successes(api: &Api, endpoint_id: &str, event_ids: &[&str]) -> Value {
    let path = format!("/api/v1/webhooks/{endpoint_id}/deliveries?limit=100");
    let what = format!("the delivery log to show {event_ids:?} delivered");
    eventually(&what, || async {
        let log = api.fetch(&path).await;
        let attempts = log["data"].as_array().expect("data is an array");
        let done = event_ids.iter().all(|id| {
            attempts
                .iter()
                .any(|a| a["event_id"] == json!(id) && a["succeeded"] == json!(true))
        });
        done.then_some(log)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_the_exact_envelope_signed_with_each_endpoints_secret() {
    let receiver = Receiver::start().await;
    let dev = Dev::start().await;
    let api = dev.api();
    let (_, secret) = register_webhook(&api, &receiver.url("/hook"), &LEAD_EVENTS).await;
    let (_, replies_secret) =
        register_webhook(&api, &receiver.url("/replies"), &["lead.replied"]).await;
    assert_ne!(secret, replies_secret, "every endpoint has its own secret");

    let lead_id = create_lead(&api, "Sarah Chen", "sarah-chen-e2e").await;
    let activities = format!("/api/v1/leads/{lead_id}/activities");
    let connected = report(&api, &lead_id, "activities", json!({"type": "connected"})).await;
    let post_url = "https://www.linkedin.com/posts/sarah-chen-e2e_launch";
    let opened = json!({"type": "opened", "post_url": post_url});
    let opened = report(&api, &lead_id, "activities", opened).await;
    let replied = report_reply(&api, &lead_id, REPLY_TEXT).await;
    let expected = BTreeMap::from([
        (connected.as_str(), "lead.connected"),
        (opened.as_str(), "lead.opened"),
        (replied.as_str(), "lead.replied"),
    ]);
    let refused = api.post(&activities, json!({"type": "exploded"})).await;
    assert_eq!(refused.status, 400, "{}", refused.body);

    let event_ids: Vec<&str> = expected.keys().copied().collect();
    receiver.wait_for_deliveries("/hook", &event_ids).await;
    receiver.wait_for_deliveries("/replies", &[&replied]).await;

    let received = receiver.received();
    let hook: Vec<&Received> = received.iter().filter(|r| r.path == "/hook").collect();
    let mut workspace_ids = BTreeSet::new();
    for (event_id, event) in &expected {
        let deliveries: Vec<&&Received> = hook
            .iter()
            .filter(|r| r.event_id() == Some(event_id))
            .collect();
        assert_eq!(
            deliveries.len(),
            1,
            "{event} was delivered once: {deliveries:?}"
        );
        let delivery = deliveries[0];
        assert_eq!(delivery.answered, 200);
        assert_eq!(attempt_header(delivery), 1);
        let envelope = assert_signed_envelope(delivery, &secret);
        assert_eq!(envelope["event"], json!(event));
        assert_eq!(envelope["id"], json!(event_id));
        assert_eq!(envelope["data"]["lead"]["id"], json!(lead_id));
        workspace_ids.insert(text(&envelope, "workspace_id").to_owned());
        let data = &envelope["data"];
        match *event {
            "lead.connected" => {
                assert_eq!(data["activity"]["type"], json!("connected"), "{data}");
                assert_eq!(data["lead"]["stage"], json!("connected"), "{data}");
            }
            "lead.opened" => {
                assert_eq!(data["activity"]["type"], json!("opened"), "{data}");
                assert_eq!(data["activity"]["post_url"], json!(post_url), "{data}");
            }
            _ => {
                assert_eq!(data["message"]["text"], json!(REPLY_TEXT), "{data}");
                assert_eq!(data["message"]["direction"], json!("inbound"), "{data}");
                assert_eq!(data["lead"]["stage"], json!("replied"), "{data}");
                assert_eq!(data["lead"]["name"], json!("Sarah Chen"), "{data}");
            }
        }
    }
    assert_eq!(workspace_ids.len(), 1, "one workspace: {workspace_ids:?}");

    // The replies-only endpoint gets the same bytes, signed with its own secret.
    let replies: Vec<&Received> = received.iter().filter(|r| r.path == "/replies").collect();
    let events: Vec<Option<&str>> = replies.iter().map(|r| r.event_id()).collect();
    assert_eq!(events, [Some(replied.as_str())], "only lead.replied");
    assert_signed_envelope(replies[0], &replies_secret);
    let hook_reply = hook
        .iter()
        .find(|r| r.event_id() == Some(&replied))
        .expect("the reply reached /hook");
    assert_eq!(replies[0].body, hook_reply.body);
    assert_ne!(
        replies[0].header("x-socialscalr-signature"),
        hook_reply.header("x-socialscalr-signature")
    );
    assert_ne!(delivery_id(replies[0]), delivery_id(hook_reply));

    // An integrator's Node.js code accepts every delivery...
    let mut signed: Vec<SignedBody> = hook.iter().map(|r| SignedBody::of(r, &secret)).collect();
    signed.push(SignedBody::of(replies[0], &replies_secret));
    let verdict = verify_with_node(&signed).await;
    assert!(
        verdict.success,
        "node refused a genuine delivery:\n{}\n{}",
        verdict.stdout, verdict.stderr
    );
    assert_eq!(verdict.stdout.trim(), "verified 4 signatures");

    // ...and refuses a tampered body and a signature under another endpoint's secret.
    let mut tampered = SignedBody::of(hook_reply, &secret);
    let original = String::from_utf8(tampered.body.clone()).expect("UTF-8");
    tampered.body = original
        .replace(REPLY_TEXT, "Sure - send two links.")
        .into_bytes();
    assert_ne!(tampered.body, hook_reply.body.to_vec());
    let verdict = verify_with_node(&[tampered]).await;
    assert!(
        !verdict.success,
        "node accepted a tampered body: {}",
        verdict.stdout
    );
    assert!(
        verdict.stderr.contains("did not verify"),
        "{}",
        verdict.stderr
    );

    let wrong_secret = SignedBody::of(replies[0], &secret);
    let verdict = verify_with_node(&[SignedBody::of(hook_reply, &secret), wrong_secret]).await;
    assert!(
        !verdict.success,
        "node accepted another endpoint's signature"
    );
    assert!(verdict.stderr.contains("1 of 2"), "{}", verdict.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_new_delivery_ids_and_the_same_event_id() {
    let receiver = Receiver::start().await;
    receiver.respond_with(|_, nth| if nth <= 2 { 500 } else { 200 });
    let dev = Dev::start().await;
    let api = dev.api();
    let (endpoint_id, secret) = register_webhook(&api, &receiver.url("/hook"), &LEAD_EVENTS).await;
    let lead_id = create_lead(&api, "Ravi Patel", "ravi-patel-e2e").await;
    let event_id = report_reply(&api, &lead_id, REPLY_TEXT).await;

    receiver.wait_for_deliveries("/hook", &[&event_id]).await;
    let attempts = receiver.for_event(&event_id);
    let answered: Vec<u16> = attempts.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 200], "{attempts:?}");
    let numbers: Vec<u32> = attempts.iter().map(attempt_header).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let delivery_ids: BTreeSet<&str> = attempts.iter().map(delivery_id).collect();
    assert_eq!(
        delivery_ids.len(),
        3,
        "each attempt has its own delivery id"
    );
    for attempt in &attempts {
        let envelope = assert_signed_envelope(attempt, &secret);
        assert_eq!(envelope["id"], json!(event_id));
        assert_eq!(
            attempt.body, attempts[0].body,
            "every attempt sends the same bytes"
        );
    }

    // The log, newest first, holds the two failures with their next try and the success.
    let log = delivery_log_with_successes(&api, &endpoint_id, &[&event_id]).await;
    let entries: Vec<&Value> = log["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .filter(|entry| entry["event_id"] == json!(event_id))
        .collect();
    let logged_ids: Vec<&str> = entries.iter().map(|e| text(e, "delivery_id")).collect();
    let sent_ids: Vec<&str> = attempts.iter().rev().map(delivery_id).collect();
    assert_eq!(
        logged_ids, sent_ids,
        "the log lists the attempts newest first"
    );
    let (success, failures) = entries.split_first().expect("three entries");
    for (failure, number) in failures.iter().zip([2, 1]) {
        assert_eq!(failure["attempt"], json!(number), "{failure}");
        assert_eq!(failure["event"], json!("lead.replied"), "{failure}");
        assert_eq!(failure["status_code"], json!(500), "{failure}");
        assert_eq!(failure["succeeded"], json!(false), "{failure}");
        assert_eq!(
            failure["response_excerpt"],
            json!(receiver_answer(500)),
            "{failure}"
        );
        assert!(
            failure["error"].is_string(),
            "a failure says why: {failure}"
        );
        let next_retry_at = time(&failure["next_retry_at"]);
        assert!(next_retry_at > time(&failure["attempted_at"]), "{failure}");
    }
    assert_eq!(success["attempt"], json!(3), "{success}");
    assert_eq!(success["status_code"], json!(200), "{success}");
    assert_eq!(success["succeeded"], json!(true), "{success}");
    assert_eq!(success["next_retry_at"], Value::Null, "{success}");
    assert_eq!(success["error"], Value::Null, "{success}");
    // No retry went out before the time the log announced for it.
    for pair in entries.windows(2) {
        let (later, earlier) = (pair[0], pair[1]);
        assert!(
            time(&later["attempted_at"]) >= time(&earlier["next_retry_at"]),
            "{later} came before {earlier}'s next_retry_at"
        );
    }

    let signed: Vec<SignedBody> = attempts
        .iter()
        .map(|r| SignedBody::of(r, &secret))
        .collect();
    let verdict = verify_with_node(&signed).await;
    assert!(verdict.success, "{}\n{}", verdict.stdout, verdict.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_loses_no_pending_delivery_and_keeps_the_api_data() {
    let receiver = Receiver::start().await;
    receiver.respond_with(|_, _| 503);
    let mut dev = Dev::start().await;
    let first_token = dev.token.clone();
    let api = dev.api();
    let (endpoint_id, secret) = register_webhook(&api, &receiver.url("/hook"), &LEAD_EVENTS).await;
    let lead_id = create_lead(&api, "Mia Wong", "mia-wong-e2e").await;
    let outbound = json!({"direction": "outbound", "text": "Hi Mia, quick question?"});
    let messages = format!("/api/v1/leads/{lead_id}/messages");
    let sent = api.create(&messages, outbound).await;
    assert_eq!(
        sent["event_id"],
        Value::Null,
        "an outbound message emits no event"
    );
    let connected = report(&api, &lead_id, "activities", json!({"type": "connected"})).await;
    let replied = report_reply(&api, &lead_id, REPLY_TEXT).await;
    let before_stop = [connected.as_str(), replied.as_str()];

    // The receiver is failing: every event has been tried and waits for a retry.
    receiver.wait_for_attempts("/hook", &before_stop).await;
    let stopped = dev.stop_gracefully().await;
    assert!(
        stopped.stdout.iter().any(|line| line == STOPPED_LINE),
        "{:?}",
        stopped.stdout
    );
    let tried_before = receiver.received();
    for attempt in &tried_before {
        assert_eq!(attempt.answered, 503);
        assert_signed_envelope(attempt, &secret);
    }
    for event_id in before_stop {
        let tries = tried_before
            .iter()
            .filter(|r| r.event_id() == Some(event_id))
            .count();
        assert!(
            tries < 4,
            "{event_id} used all four attempts before the stop; the machine is too slow \
             for a 1s,2s,3s schedule"
        );
    }

    receiver.respond_with(|_, _| 200);
    dev.restart().await;
    let api = dev.api_with_token(&first_token);
    receiver.wait_for_deliveries("/hook", &before_stop).await;

    for event_id in before_stop {
        let requests = receiver.for_event(event_id);
        let delivered: Vec<&Received> = requests.iter().filter(|r| r.delivered()).collect();
        assert_eq!(
            delivered.len(),
            1,
            "{event_id} delivered once: {requests:?}"
        );
        let delivery = delivered[0];
        let envelope = assert_signed_envelope(delivery, &secret);
        assert_eq!(envelope["id"], json!(event_id));
        assert!(
            attempt_header(delivery) >= 2,
            "the attempt before the stop counts"
        );
        for earlier in requests.iter().filter(|r| !r.delivered()) {
            assert_eq!(
                earlier.body, delivery.body,
                "the same bytes as before the stop"
            );
            assert_ne!(delivery_id(earlier), delivery_id(delivery));
        }
    }

    // The data written before the stop is there, under the first start's token.
    let lead = api.fetch(&format!("/api/v1/leads/{lead_id}")).await;
    assert_eq!(lead["stage"], json!("replied"), "{lead}");
    let texts: Vec<&str> = lead["messages"]
        .as_array()
        .expect("messages is an array")
        .iter()
        .map(|message| text(message, "text"))
        .collect();
    assert_eq!(texts, ["Hi Mia, quick question?", REPLY_TEXT], "{lead}");
    assert_eq!(
        lead["activities"].as_array().map(Vec::len),
        Some(1),
        "{lead}"
    );
    let endpoint = api.fetch(&format!("/api/v1/webhooks/{endpoint_id}")).await;
    assert_eq!(endpoint["disabled"], json!(false), "{endpoint}");

    // The log keeps the attempts from before the stop next to the deliveries after it.
    let log = delivery_log_with_successes(&api, &endpoint_id, &before_stop).await;
    let logged: BTreeSet<&str> = log["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|entry| text(entry, "delivery_id"))
        .collect();
    for attempt in &tried_before {
        assert!(
            logged.contains(delivery_id(attempt)),
            "{} not logged",
            delivery_id(attempt)
        );
    }

    // The restarted process delivers new events too.
    let after_restart = report_reply(&api, &lead_id, "Booked for Tuesday.").await;
    let requests = receiver
        .wait_for_deliveries("/hook", &[&after_restart])
        .await;
    let delivery = requests
        .iter()
        .find(|r| r.event_id() == Some(&after_restart))
        .expect("delivered");
    assert_signed_envelope(delivery, &secret);

    let all = receiver.received();
    let signed: Vec<SignedBody> = all.iter().map(|r| SignedBody::of(r, &secret)).collect();
    let verdict = verify_with_node(&signed).await;
    assert!(verdict.success, "{}\n{}", verdict.stdout, verdict.stderr);

    let second_run = dev.stop_gracefully().await;
    let printed = second_run.stdout.join("\n");
    assert!(
        !printed.contains("ssk_"),
        "a restart printed a token: {printed}"
    );
    assert!(!printed.contains("API token"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_that_replied_in_the_last_day_are_listed_by_stage_and_since() {
    let dev = Dev::start().await;
    let api = dev.api();
    let replied = create_lead(&api, "Sarah Chen", "sarah-chen-filter").await;
    let connected = create_lead(&api, "Tom Baker", "tom-baker-filter").await;
    let untouched = create_lead(&api, "Ana Silva", "ana-silva-filter").await;
    report(&api, &connected, "activities", json!({"type": "connected"})).await;
    report(&api, &replied, "activities", json!({"type": "connected"})).await;
    report_reply(&api, &replied, REPLY_TEXT).await;

    let ids = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .expect("data is an array")
            .iter()
            .map(|lead| text(lead, "id").to_owned())
            .collect()
    };
    let list = api.fetch("/api/v1/leads?stage=replied&since=24h").await;
    assert_eq!(ids(&list), [replied], "{list}");
    assert_eq!(list["next_cursor"], Value::Null);
    let lead = &list["data"][0];
    assert_eq!(lead["stage"], json!("replied"));
    assert_eq!(lead["messages"][0]["text"], json!(REPLY_TEXT), "{lead}");
    assert!(lead["last_activity_at"].is_string(), "{lead}");

    let list = api.fetch("/api/v1/leads?stage=connected&since=24h").await;
    assert_eq!(ids(&list), [connected], "{list}");
    let list = api.fetch("/api/v1/leads?stage=new").await;
    assert_eq!(ids(&list), [untouched], "{list}");
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let future = future.replace('+', "%2B");
    let list = api
        .fetch(&format!("/api/v1/leads?stage=replied&since={future}"))
        .await;
    assert_eq!(ids(&list), Vec::<String>::new(), "{list}");
    let refused = api.get("/api/v1/leads?stage=replied&since=yesterday").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["error"]["field"], json!("since"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_and_tokens_made_with_the_cli_work_against_the_running_dev_server() {
    let dev = Dev::start().await;
    let default_lead = create_lead(&dev.api(), "Sarah Chen", "sarah-chen-cli").await;

    let workspace = dev
        .cli(&["workspace", "create", "acme", "--plan", "starter", "--json"])
        .await
        .json();
    assert_eq!(workspace["name"], json!("acme"), "{workspace}");
    assert_eq!(workspace["plan"], json!("starter"), "{workspace}");
    let workspace_id = text(&workspace, "id");
    assert!(workspace_id.starts_with("ws_"), "{workspace}");

    let issued = dev
        .cli(&["token", "create", "--workspace", "acme", "--json"])
        .await
        .json();
    assert!(text(&issued, "id").starts_with("tok_"), "{issued}");
    assert_eq!(issued["workspace_id"], json!(workspace_id), "{issued}");
    let token = text(&issued, "token");
    assert!(token.starts_with("ssk_"), "{issued}");

    let acme = dev.api_with_token(token);
    let leads = acme.get("/api/v1/leads").await;
    assert_eq!(leads.status, 200, "{}", leads.body);
    assert_eq!(leads.body, json!({"data": [], "next_cursor": null}));
    // Another workspace's lead does not exist for this token.
    let other = acme.get(&format!("/api/v1/leads/{default_lead}")).await;
    assert_eq!(other.status, 404, "{}", other.body);
    assert_eq!(other.body["error"]["code"], json!("not_found"));

    // A token can also be issued by workspace id; both work.
    let by_id = dev
        .cli(&["token", "create", "--workspace", workspace_id, "--json"])
        .await
        .json();
    assert_ne!(by_id["token"], issued["token"]);
    let acme_lead = create_lead(
        &dev.api_with_token(text(&by_id, "token")),
        "Ravi Patel",
        "ravi-patel-cli",
    )
    .await;
    let listed = acme.fetch("/api/v1/leads").await;
    assert_eq!(listed["data"][0]["id"], json!(acme_lead), "{listed}");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");

    let missing = dev
        .cli(&["token", "create", "--workspace", "nope", "--json"])
        .await;
    assert!(!missing.status.success(), "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("no workspace named or with id `nope`"),
        "{missing:?}"
    );

    let stranger = Api::new(&dev.base_url(), "ssk_not_a_real_token");
    let unauthenticated = stranger.get("/api/v1/leads").await;
    assert_eq!(unauthenticated.status, 401, "{}", unauthenticated.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_plan_workspace_token_is_refused_with_plan_required() {
    let dev = Dev::start().await;
    dev.cli(&["workspace", "create", "hobby", "--plan", "free", "--json"])
        .await
        .json();
    let issued = dev
        .cli(&["token", "create", "--workspace", "hobby", "--json"])
        .await
        .json();
    let refused = dev
        .api_with_token(text(&issued, "token"))
        .get("/api/v1/leads")
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["code"],
        json!("plan_required"),
        "{}",
        refused.body
    );
}
