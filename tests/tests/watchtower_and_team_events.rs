//! Watchtower, subscription and team events end to end: a signal reported over the REST
//! API of the real `socialscalr dev` binary, and plan, member and cancellation changes made
//! with the CLI on its data directory while it runs, each delivered signed to a receiver on
//! 127.0.0.1. Build the binaries first: `cargo build --workspace --bins`.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{Api, CliOutput, Dev, Received, Receiver, SignedBody, eventually, hmac_hex};

const EVENTS: [&str; 5] = [
    "watchtower.alert",
    "subscription.created",
    "subscription.cancelled",
    "team.member_added",
    "team.member_removed",
];

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {value}"))
}

/// The event id a CLI command printed in its `--json` output.
fn event_id_of(output: &Value) -> String {
    let id = text(output, "event_id");
    assert!(id.starts_with("evt_"), "{output}");
    id.to_owned()
}

/// Checks that the failed command printed exactly one line, naming `expected`.
fn assert_one_line_error(output: &CliOutput, expected: &str) {
    assert!(
        !output.status.success(),
        "the command succeeded: {output:?}"
    );
    let stderr = output.stderr.trim();
    assert_eq!(stderr.lines().count(), 1, "one line: {output:?}");
    assert!(stderr.starts_with("socialscalr: "), "{output:?}");
    assert!(stderr.contains(expected), "`{expected}` in {output:?}");
}

/// Waits until the endpoint's delivery log shows every event delivered, then checks that
/// each took exactly one attempt.
async fn assert_delivered_once_in_the_log(api: &Api, endpoint_id: &str, event_ids: &[&str]) {
    let path = format!("/api/v1/webhooks/{endpoint_id}/deliveries?limit=100");
    let log = eventually("the delivery log to show every event delivered", || async {
        let log = api.fetch(&path).await;
        let attempts = log["data"].as_array().expect("data is an array").clone();
        let done = event_ids.iter().all(|id| {
            attempts
                .iter()
                .any(|a| a["event_id"] == json!(id) && a["succeeded"] == json!(true))
        });
        done.then_some(attempts)
    })
    .await;
    for id in event_ids {
        let attempts = log.iter().filter(|a| a["event_id"] == json!(id)).count();
        assert_eq!(attempts, 1, "{id} took one attempt: {log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchtower_subscription_and_team_events_arrive_signed_exactly_once() {
    let receiver = Receiver::start().await;
    let dev = Dev::start().await;
    let api = dev.api();
    let webhook = json!({"url": receiver.url("/hook"), "events": EVENTS});
    let endpoint = api.create("/api/v1/webhooks", webhook).await;
    let endpoint_id = text(&endpoint, "id").to_owned();
    let secret = text(&endpoint, "secret").to_owned();

    // A signal reported over HTTP: watchtower.alert with the signal and its lead.
    let lead = json!({"name": "Sarah Chen", "linkedin_url": "https://www.linkedin.com/in/sc"});
    let lead_id = text(&api.create("/api/v1/leads", lead).await, "id").to_owned();
    let signal = json!({
        "type": "job_change",
        "lead_id": lead_id,
        "title": "Sarah Chen is now VP Sales at Northwind",
        "url": "https://www.linkedin.com/in/sc"
    });
    let signal = api.create("/api/v1/watchtower/signals", signal).await;
    let alert = event_id_of(&signal);

    // The dev workspace moves from pro to agency, whose endpoints hear billing events.
    let upgraded = dev
        .cli(&[
            "workspace",
            "set-plan",
            "default",
            "--plan",
            "agency",
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        (&upgraded["previous_plan"], &upgraded["plan"]),
        (&json!("pro"), &json!("agency"))
    );
    let created = event_id_of(&upgraded);

    let member = ["--email", "Ana@Example.com"];
    let add = ["workspace", "member", "add", "default", "--role", "admin"];
    let added = dev.cli(&[&add[..], &member, &["--json"]].concat()).await;
    let added = event_id_of(&added.json());
    let remove = ["workspace", "member", "remove", "default"];
    let removed = dev.cli(&[&remove[..], &member, &["--json"]].concat()).await;
    let removed = event_id_of(&removed.json());

    let before_cancel = [alert.as_str(), &created, &added, &removed];
    receiver.wait_for_deliveries("/hook", &before_cancel).await;
    assert_delivered_once_in_the_log(&api, &endpoint_id, &before_cancel).await;

    let cancel = dev.cli(&["workspace", "cancel", "default", "--json"]).await;
    let cancelled = event_id_of(&cancel.json());
    receiver.wait_for_deliveries("/hook", &[&cancelled]).await;

    let expected = BTreeMap::from([
        (alert.as_str(), "watchtower.alert"),
        (created.as_str(), "subscription.created"),
        (added.as_str(), "team.member_added"),
        (removed.as_str(), "team.member_removed"),
        (cancelled.as_str(), "subscription.cancelled"),
    ]);
    let received = receiver.received();
    let ids: Vec<Option<&str>> = received.iter().map(Received::event_id).collect();
    assert_eq!(
        received.len(),
        expected.len(),
        "one request per event: {ids:?}"
    );
    let mut workspace_ids = Vec::new();
    for (event_id, event) in &expected {
        let deliveries = receiver.for_event(event_id);
        assert_eq!(deliveries.len(), 1, "{event} arrived once: {deliveries:?}");
        let delivery = &deliveries[0];
        assert_eq!(delivery.answered, 200);
        assert_eq!(delivery.header("x-socialscalr-event"), *event);
        assert_eq!(
            delivery.header("x-socialscalr-signature"),
            format!("sha256={}", hmac_hex(&secret, &[delivery.body.as_ref()]))
        );
        let envelope: Value = serde_json::from_slice(&delivery.body).expect("a JSON body");
        assert_eq!(envelope["event"], json!(event));
        assert_eq!(envelope["id"], json!(event_id));
        workspace_ids.push(text(&envelope, "workspace_id").to_owned());
        let data = &envelope["data"];
        match *event {
            "watchtower.alert" => {
                assert_eq!(data["signal"]["id"], signal["id"], "{data}");
                assert_eq!(data["signal"]["type"], json!("job_change"), "{data}");
                assert_eq!(data["lead"]["id"], json!(lead_id), "{data}");
            }
            "subscription.created" => {
                assert_eq!(data["workspace"]["plan"], json!("agency"), "{data}");
                assert_eq!(data["previous_plan"], json!("pro"), "{data}");
            }
            "subscription.cancelled" => {
                assert!(data["workspace"]["cancelled_at"].is_string(), "{data}");
            }
            _ => {
                assert_eq!(data["member"]["email"], json!("ana@example.com"), "{data}");
                assert_eq!(data["member"]["role"], json!("admin"), "{data}");
                assert_eq!(data["workspace"]["name"], json!("default"), "{data}");
            }
        }
    }
    workspace_ids.dedup();
    assert_eq!(workspace_ids.len(), 1, "one workspace: {workspace_ids:?}");

    let signed: Vec<SignedBody> = received
        .iter()
        .map(|r| SignedBody::of(r, &secret))
        .collect();
    let verdict = support::verify_with_node(&signed).await;
    assert!(
        verdict.success,
        "node refused a genuine delivery:\n{}\n{}",
        verdict.stdout, verdict.stderr
    );
    assert_eq!(verdict.stdout.trim(), "verified 5 signatures");

    let refused = api.get("/api/v1/leads").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], json!("workspace_cancelled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_commands_explain_refusals_in_one_line() {
    let dev = Dev::start().await;
    let unknown = dev
        .cli(&["workspace", "set-plan", "nobody", "--plan", "pro"])
        .await;
    assert_one_line_error(&unknown, "no workspace named or with id `nobody`");
    let unknown = dev.cli(&["workspace", "cancel", "nobody"]).await;
    assert_one_line_error(&unknown, "no workspace named or with id `nobody`");

    let same = dev
        .cli(&["workspace", "set-plan", "default", "--plan", "pro"])
        .await;
    assert!(same.status.success(), "{same:?}");
    assert!(same.stdout.contains("already on the pro plan"), "{same:?}");

    let add = ["workspace", "member", "add", "default", "--email"];
    let first = dev.cli(&[&add[..], &["ana@example.com"]].concat()).await;
    assert!(first.status.success(), "{first:?}");
    assert!(
        first.stdout.contains("(member)"),
        "the default role: {first:?}"
    );
    let duplicate = dev.cli(&[&add[..], &["ANA@example.com"]].concat()).await;
    assert_one_line_error(&duplicate, "ana@example.com is already a member");
    let malformed = dev.cli(&[&add[..], &["ana"]].concat()).await;
    assert_one_line_error(&malformed, "email: is not an email address");

    let remove = ["workspace", "member", "remove", "default", "--email"];
    let missing = dev.cli(&[&remove[..], &["bo@example.com"]].concat()).await;
    assert_one_line_error(
        &missing,
        "bo@example.com is not a member of workspace `default`",
    );

    let listed = dev
        .cli(&["workspace", "member", "list", "default", "--json"])
        .await
        .json();
    assert_eq!(listed["members"][0]["email"], json!("ana@example.com"));

    let cancel = dev.cli(&["workspace", "cancel", "default"]).await;
    assert!(cancel.status.success(), "{cancel:?}");
    let again = dev.cli(&["workspace", "cancel", "default"]).await;
    assert!(again.stdout.contains("already cancelled"), "{again:?}");
    let late = dev.cli(&[&add[..], &["bo@example.com"]].concat()).await;
    assert_one_line_error(&late, "workspace `default` is cancelled");
}
