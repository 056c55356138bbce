//! Slack and Discord endpoints against fake services on 127.0.0.1: the rendered bodies,
//! their 429s, and the pace of deliveries. The format is set explicitly, since a loopback
//! URL is never detected as either service.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{Log, Received, Setup, eventually};
use serde_json::json;
use socialscalr_core::ids;
use socialscalr_core::model::EndpointFormat;
use socialscalr_core::signing;
use socialscalr_dispatcher::ChatPacing;
use tokio::net::TcpListener;

/// A fake chat service whose answer to the n-th request (from 0) is chosen by `answer`.
async fn service(answer: fn(usize) -> Response) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let app = Router::new().route(
        "/api/webhooks/1/token",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Received { headers, body });
                    seen.len() - 1
                };
                answer(n)
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api/webhooks/1/token"), log)
}

/// Slack answers a message with `200 ok`.
fn slack_ok(_: usize) -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// Discord answers a message with `204` when not asked to wait for it.
fn discord_ok(_: usize) -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Paced quickly, so that tests that are not about pacing do not wait for it.
fn quick() -> ChatPacing {
    ChatPacing {
        slack: Duration::from_millis(10),
        discord: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn slack_endpoints_get_blocks_naming_the_lead_and_quoting_the_reply() {
    let setup = Setup::new().await;
    let (url, log) = service(slack_ok).await;
    let (endpoint, secret) = setup.endpoint_as(&url, EndpointFormat::Slack).await;
    let event_id = setup.reply("Sure - send a link.").await;
    let _stop = setup.start_with("1s,2s", |config| config.chat_pacing = quick());

    eventually("the message", || async { !log.lock().unwrap().is_empty() }).await;
    let received = log.lock().unwrap()[0].clone();
    assert_eq!(received.header("content-type"), "application/json");
    assert_eq!(received.header("x-socialscalr-event-id"), event_id);
    assert_eq!(received.header("x-socialscalr-event"), "lead.replied");
    assert_eq!(received.header("x-socialscalr-attempt"), "1");
    assert!(ids::has_prefix(
        received.header("x-socialscalr-delivery-id"),
        ids::ATTEMPT
    ));
    assert_eq!(
        received.header("x-socialscalr-signature"),
        signing::body_signature(&secret, &received.body),
        "the bytes sent are the bytes signed"
    );

    let message = received.json();
    assert_eq!(message["text"], "Sarah Chen replied: Sure - send a link.");
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "Sarah Chen replied");
    assert_eq!(blocks[1]["text"]["text"], ">Sure - send a link.");
    let fields = blocks[2]["fields"].to_string();
    assert!(fields.contains("Northwind"), "{fields}");
    let context = blocks.last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(context.contains("`lead.replied`"), "{context}");
    assert!(context.contains(&event_id), "{context}");
    assert!(context.contains(&setup.workspace), "{context}");
    assert!(message.get("event").is_none(), "not the envelope");

    eventually("the attempt to be recorded", || async {
        setup
            .attempts(&endpoint)
            .await
            .first()
            .is_some_and(|a| a.succeeded)
    })
    .await;
    assert_eq!(setup.attempts(&endpoint).await[0].status_code, Some(200));
}

#[tokio::test]
async fn discord_endpoints_get_an_embed_with_fields_time_and_the_event_id() {
    let setup = Setup::new().await;
    let (url, log) = service(discord_ok).await;
    let (endpoint, _) = setup.endpoint_as(&url, EndpointFormat::Discord).await;
    let event_id = setup.reply("Sure - send a link.\nTuesday works.").await;
    let _stop = setup.start_with("1s,2s", |config| config.chat_pacing = quick());

    eventually("the delivery to succeed", || async {
        setup.counts().await.succeeded == 1
    })
    .await;
    let received = log.lock().unwrap()[0].clone();
    assert_eq!(received.header("content-type"), "application/json");
    assert_eq!(received.header("x-socialscalr-event-id"), event_id);

    let message = received.json();
    assert_eq!(message["allowed_mentions"], json!({"parse": []}));
    let embeds = message["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 1);
    let embed = &embeds[0];
    assert_eq!(embed["title"], "Sarah Chen replied");
    assert_eq!(
        embed["description"],
        "> Sure - send a link.\n> Tuesday works."
    );
    let fields = embed["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Company" && f["value"] == "Northwind"),
        "{fields:?}"
    );
    let footer = embed["footer"]["text"].as_str().unwrap();
    assert!(
        footer.contains(&event_id) && footer.contains("lead.replied"),
        "{footer}"
    );
    let timestamp = embed["timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok());
    assert_eq!(setup.attempts(&endpoint).await[0].status_code, Some(204));
}

#[tokio::test]
async fn a_slack_429_is_retried_when_asked_without_using_up_the_schedule() {
    let setup = Setup::new().await;
    // Three refusals in a row; a schedule of one retry a minute later would have failed
    // the delivery, or made it wait a minute, had they counted.
    let (url, log) = service(|n| {
        if n < 3 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "rate_limited",
            )
                .into_response()
        } else {
            slack_ok(n)
        }
    })
    .await;
    let (endpoint, _) = setup.endpoint_as(&url, EndpointFormat::Slack).await;
    setup.reply("hello").await;
    let _stop = setup.start_with("1m", |config| config.chat_pacing = quick());

    eventually("the delivery to succeed", || async {
        setup.counts().await.succeeded == 1
    })
    .await;
    assert_eq!(setup.counts().await.failed, 0);
    let received = log.lock().unwrap().clone();
    assert_eq!(received.len(), 4);
    assert!(
        received
            .iter()
            .all(|r| r.header("x-socialscalr-attempt") == "1")
    );
    let delivery_ids: HashSet<&str> = received
        .iter()
        .map(|r| r.header("x-socialscalr-delivery-id"))
        .collect();
    assert_eq!(
        delivery_ids.len(),
        4,
        "each try is its own attempt in the log"
    );
    assert!(received.windows(2).all(|pair| pair[0].body == pair[1].body));

    let attempts = setup.attempts(&endpoint).await;
    assert_eq!(attempts.len(), 4);
    assert!(attempts.iter().all(|a| a.attempt == 1), "{attempts:?}");
    assert!(attempts[0].succeeded);
    for limited in &attempts[1..] {
        assert_eq!(limited.status_code, Some(429));
        let retry_at = limited
            .next_retry_at
            .expect("a rate-limited attempt is rescheduled");
        assert!(retry_at >= limited.attempted_at + chrono::Duration::seconds(1));
    }
    // Each try waited for the time asked for.
    for pair in attempts.windows(2) {
        assert!(pair[0].attempted_at >= pair[1].next_retry_at.unwrap());
    }
}

#[tokio::test]
async fn a_discord_429_is_honoured_from_its_body_and_not_counted() {
    let setup = Setup::new().await;
    let (url, _) = service(|n| {
        if n == 0 {
            let body = json!({
                "message": "You are being rate limited.",
                "retry_after": 1.5,
                "global": false
            });
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
        } else {
            discord_ok(n)
        }
    })
    .await;
    let (endpoint, _) = setup.endpoint_as(&url, EndpointFormat::Discord).await;
    setup.reply("hello").await;
    let _stop = setup.start_with("1s,2s", |config| config.chat_pacing = quick());

    eventually("the delivery to succeed", || async {
        setup.counts().await.succeeded == 1
    })
    .await;
    let attempts = setup.attempts(&endpoint).await;
    assert_eq!(attempts.len(), 2);
    let (delivered, limited) = (&attempts[0], &attempts[1]);
    assert_eq!((limited.attempt, delivered.attempt), (1, 1));
    let retry_at = limited.next_retry_at.unwrap();
    assert!(retry_at >= limited.attempted_at + chrono::Duration::milliseconds(1_500));
    assert!(delivered.attempted_at >= retry_at);
    assert!(
        limited
            .response_excerpt
            .as_deref()
            .is_some_and(|e| e.contains("retry_after"))
    );
}

#[tokio::test]
async fn messages_to_one_chat_endpoint_are_spaced_while_other_endpoints_go_at_once() {
    let setup = Setup::new().await;
    let (slack_url, slack_log) = service(slack_ok).await;
    let (json_url, json_log) = service(discord_ok).await;
    let (slack, _) = setup.endpoint_as(&slack_url, EndpointFormat::Slack).await;
    setup.endpoint_as(&json_url, EndpointFormat::Json).await;
    for n in 0..3 {
        setup.reply(&format!("m{n}")).await;
    }
    let spacing = Duration::from_secs(2);
    let pacing = ChatPacing {
        slack: spacing,
        discord: spacing,
    };
    let _stop = setup.start_with("1m", |config| config.chat_pacing = pacing);

    eventually("the envelope endpoint's deliveries", || async {
        json_log.lock().unwrap().len() == 3
    })
    .await;
    // The third message to Slack is not due for four seconds yet.
    assert!(slack_log.lock().unwrap().len() < 3);

    eventually("the paced messages", || async {
        slack_log.lock().unwrap().len() == 3
    })
    .await;
    eventually("the paced attempts to be recorded", || async {
        setup.attempts(&slack).await.len() == 3
    })
    .await;
    let mut times: Vec<_> = setup
        .attempts(&slack)
        .await
        .iter()
        .map(|a| a.attempted_at)
        .collect();
    times.sort();
    // Times are kept to the microsecond; the clock may read one less.
    let spacing = chrono::Duration::from_std(spacing).unwrap() - chrono::Duration::microseconds(1);
    assert!(
        times.windows(2).all(|pair| pair[1] - pair[0] >= spacing),
        "{times:?}"
    );
    let texts: Vec<String> = slack_log
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            r.json()["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        texts,
        vec![">m0", ">m1", ">m2"],
        "in the order they happened"
    );
}
