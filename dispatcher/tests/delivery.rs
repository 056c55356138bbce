//! The dispatcher against real receivers on 127.0.0.1 that answer well, badly or never.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use common::{Log, Received, Setup, eventually};
use serde_json::{Value, json};
use socialscalr_core::event::EventType;
use socialscalr_core::ids;
use socialscalr_core::model::{AttemptOutcome, EndpointFormat, NewMessage};
use socialscalr_core::plan::Plan;
use socialscalr_core::signing;
use socialscalr_core::store::{ClaimRequest, NewEndpointRow};
use socialscalr_core::target::TargetPolicy;
use socialscalr_core::time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP receiver whose status for the n-th request (from 0) is chosen by `answer`.
async fn receiver(answer: fn(usize) -> StatusCode) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Received { headers, body });
                    seen.len() - 1
                };
                (answer(n), "receiver says hi").into_response()
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), log)
}

/// What a raw TCP server does once it has read a request.
#[derive(Clone)]
enum Raw {
    Reset,
    Garbage,
    Hang,
    Redirect(String),
}

/// A TCP server that reads the request and then misbehaves; counts connections.
async fn raw_server(behaviour: Raw) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            *counter.lock().unwrap() += 1;
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                match behaviour {
                    Raw::Reset => {
                        let _ = socket.set_zero_linger();
                        drop(socket);
                    }
                    Raw::Garbage => {
                        let _ = socket
                            .write_all(b"\x00\x01 this is not HTTP \r\n\r\n")
                            .await;
                    }
                    Raw::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
                    Raw::Redirect(location) => {
                        let answer = format!(
                            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n\
                             Content-Length: 0\r\n\r\n"
                        );
                        let _ = socket.write_all(answer.as_bytes()).await;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/hook"), connections)
}

#[tokio::test]
async fn deliveries_carry_the_signed_envelope_and_headers() {
    let setup = Setup::new().await;
    let (url, log) = receiver(|_| StatusCode::NO_CONTENT).await;
    let (endpoint, secret) = setup.endpoint(&url).await;
    let event_id = setup.reply("Sure - send a link.").await;
    let _stop = setup.start(|_| {});

    eventually("the delivery", || async { !log.lock().unwrap().is_empty() }).await;
    let received = log.lock().unwrap()[0].clone();
    let header = |name: &str| received.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/json; charset=utf-8");
    assert_eq!(
        header("x-socialscalr-signature"),
        signing::body_signature(&secret, &received.body)
    );
    let timestamp: i64 = header("x-socialscalr-timestamp").parse().unwrap();
    assert_eq!(
        header("x-socialscalr-signature-timestamped"),
        signing::timestamped_signature(&secret, timestamp, &received.body)
    );
    assert_eq!(header("x-socialscalr-event-id"), event_id);
    assert_eq!(header("x-socialscalr-event"), "lead.replied");
    assert!(ids::has_prefix(
        &header("x-socialscalr-delivery-id"),
        ids::ATTEMPT
    ));
    assert!(!received.body.ends_with(b"\n"));
    let text = std::str::from_utf8(&received.body).unwrap();
    let prefix = format!(r#"{{"event":"lead.replied","id":"{event_id}","workspace_id":"#);
    assert!(text.starts_with(&prefix), "{text}");
    let envelope: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(envelope.as_object().unwrap().len(), 5);
    assert_eq!(envelope["data"]["message"]["text"], "Sure - send a link.");

    eventually("the attempt to be recorded", || async {
        setup
            .attempts(&endpoint)
            .await
            .first()
            .is_some_and(|a| a.succeeded)
    })
    .await;
    let attempt = &setup.attempts(&endpoint).await[0];
    assert_eq!(attempt.status_code, Some(204));
    assert_eq!(attempt.delivery_id, header("x-socialscalr-delivery-id"));
    assert_eq!(attempt.next_retry_at, None);
    assert_eq!(setup.counts().await.succeeded, 1);
}

#[tokio::test]
async fn failures_are_retried_with_new_delivery_ids_until_the_schedule_ends() {
    let setup = Setup::new().await;
    let (url, log) = receiver(|_| StatusCode::INTERNAL_SERVER_ERROR).await;
    let (endpoint, _) = setup.endpoint(&url).await;
    let event_id = setup.reply("hello").await;
    let _stop = setup.start(|_| {});

    eventually("the delivery to fail for good", || async {
        setup.counts().await.failed == 1
    })
    .await;
    let received = log.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "one attempt and one per schedule entry");
    let delivery_ids: HashSet<&str> = received
        .iter()
        .map(|r| r.headers["x-socialscalr-delivery-id"].to_str().unwrap())
        .collect();
    assert_eq!(delivery_ids.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r.headers["x-socialscalr-event-id"] == event_id.as_str())
    );
    assert!(
        received.windows(2).all(|pair| pair[0].body == pair[1].body),
        "same bytes each time"
    );

    let attempts = setup.attempts(&endpoint).await;
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, vec![3, 2, 1]);
    assert!(
        attempts
            .iter()
            .all(|a| a.status_code == Some(500) && !a.succeeded)
    );
    assert_eq!(
        attempts[0].next_retry_at, None,
        "the last attempt schedules nothing"
    );
    assert_eq!(attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(attempts[1].outcome, AttemptOutcome::RetryScheduled);
    assert!(attempts[1].next_retry_at.is_some() && attempts[2].next_retry_at.is_some());
    assert_eq!(
        attempts[2].response_excerpt.as_deref(),
        Some("receiver says hi")
    );
    let first = attempts[2].attempted_at;
    assert!(attempts[2].next_retry_at.unwrap() >= first + chrono::Duration::seconds(1));
    assert!(attempts[1].next_retry_at.unwrap() >= first + chrono::Duration::seconds(2));
}

#[tokio::test]
async fn a_receiver_recovering_gets_the_event_on_a_later_attempt() {
    let setup = Setup::new().await;
    let (url, log) = receiver(|n| {
        if n == 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    })
    .await;
    let (endpoint, _) = setup.endpoint(&url).await;
    setup.reply("hello").await;
    let _stop = setup.start(|_| {});
    eventually("the retry to succeed", || async {
        setup.counts().await.succeeded == 1
    })
    .await;
    assert_eq!(log.lock().unwrap().len(), 2);
    let attempts = setup.attempts(&endpoint).await;
    assert!(attempts[0].succeeded && attempts[0].attempt == 2);
    assert_eq!(attempts[1].status_code, Some(503));
}

#[tokio::test]
async fn redirects_are_failures_and_never_followed() {
    let setup = Setup::new().await;
    let (target, followed) = receiver(|_| StatusCode::OK).await;
    let (url, _) = raw_server(Raw::Redirect(target)).await;
    let (endpoint, _) = setup.endpoint(&url).await;
    setup.reply("hello").await;
    let _stop = setup.start(|_| {});
    eventually("the redirect to be recorded", || async {
        !setup.attempts(&endpoint).await.is_empty()
    })
    .await;
    let attempt = &setup.attempts(&endpoint).await[0];
    assert_eq!(attempt.status_code, Some(307));
    assert!(!attempt.succeeded);
    assert!(
        attempt.error.as_deref().unwrap().contains("redirect"),
        "{attempt:?}"
    );
    assert!(
        followed.lock().unwrap().is_empty(),
        "the redirect target got a request"
    );
}

#[tokio::test]
async fn resets_garbage_and_4xx_are_recorded_failures_and_retried() {
    let setup = Setup::new().await;
    let (reset_url, _) = raw_server(Raw::Reset).await;
    let (garbage_url, _) = raw_server(Raw::Garbage).await;
    let (bad_request_url, _) = receiver(|_| StatusCode::BAD_REQUEST).await;
    let (reset, _) = setup.endpoint(&reset_url).await;
    let (garbage, _) = setup.endpoint(&garbage_url).await;
    let (bad_request, _) = setup.endpoint(&bad_request_url).await;
    setup.reply("hello").await;
    let _stop = setup.start(|_| {});

    for endpoint in [&reset, &garbage, &bad_request] {
        eventually("two attempts each", || async {
            setup.attempts(endpoint).await.len() >= 2
        })
        .await;
    }
    for attempt in setup
        .attempts(&reset)
        .await
        .iter()
        .chain(&setup.attempts(&garbage).await)
    {
        assert!(
            !attempt.succeeded && attempt.status_code.is_none(),
            "{attempt:?}"
        );
        assert!(attempt.error.is_some());
    }
    for attempt in setup.attempts(&bad_request).await {
        assert_eq!(attempt.status_code, Some(400));
    }
}

#[tokio::test]
async fn a_hanging_receiver_times_out_without_holding_up_other_endpoints() {
    let setup = Setup::new().await;
    let (hang_url, hang_connections) = raw_server(Raw::Hang).await;
    let (fast_url, fast_log) = receiver(|_| StatusCode::OK).await;
    let (hanging, _) = setup.endpoint(&hang_url).await;
    setup.endpoint(&fast_url).await;
    for n in 0..20 {
        setup.reply(&format!("m{n}")).await;
    }
    let _stop = setup.start(|config| {
        config.attempt_timeout = Duration::from_secs(5);
        config.per_endpoint = 2;
        config.concurrency = 4;
    });

    eventually("all fast deliveries", || async {
        fast_log.lock().unwrap().len() == 20
    })
    .await;
    // The hanging endpoint holds at most its two slots, and none of its attempts had
    // finished while the other endpoint received all twenty.
    assert!(*hang_connections.lock().unwrap() <= 2);
    assert!(setup.attempts(&hanging).await.is_empty());

    eventually("the hung attempts to time out", || async {
        !setup.attempts(&hanging).await.is_empty()
    })
    .await;
    let attempt = &setup.attempts(&hanging).await[0];
    assert!(
        attempt.error.as_deref().unwrap().contains("timed out"),
        "{attempt:?}"
    );
    assert!(attempt.duration_ms >= 4_000);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_cancels_its_queue() {
    let setup = Setup::new().await;
    let (url, log) = receiver(|_| StatusCode::GONE).await;
    let (endpoint, _) = setup.endpoint(&url).await;
    setup.reply("one").await;
    setup.reply("two").await;
    let _stop = setup.start(|config| config.per_endpoint = 1);
    eventually("the queue to be cancelled", || async {
        setup.counts().await.cancelled == 2
    })
    .await;
    let stored = setup
        .store
        .get_endpoint(&setup.workspace, &endpoint)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.disabled);
    assert_eq!(stored.disabled_reason.as_deref(), Some("gone"));
    assert_eq!(
        setup.attempts(&endpoint).await[0].outcome,
        AttemptOutcome::EndpointGone
    );
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn forbidden_targets_are_refused_at_delivery_time() {
    let setup = Setup::new().await;
    let (url, log) = receiver(|_| StatusCode::OK).await;
    let (endpoint, _) = setup.endpoint(&url).await;
    setup.reply("hello").await;
    let _stop = setup.start(|config| {
        config.target_policy = TargetPolicy {
            allow_loopback: false,
        }
    });
    eventually("the refusal to be recorded", || async {
        !setup.attempts(&endpoint).await.is_empty()
    })
    .await;
    let attempt = &setup.attempts(&endpoint).await[0];
    assert!(
        attempt.error.as_deref().unwrap().contains("loopback"),
        "{attempt:?}"
    );
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_stop_releases_claims_for_the_next_dispatcher() {
    let setup = Setup::new().await;
    let (hang_url, connections) = raw_server(Raw::Hang).await;
    let (endpoint, _) = setup.endpoint(&hang_url).await;
    setup.reply("hello").await;
    let stop = setup.start(|config| {
        config.attempt_timeout = Duration::from_secs(30);
        config.shutdown_grace = Duration::from_millis(200);
        config.worker_id = "first".into();
    });
    eventually("the attempt to start", || async {
        *connections.lock().unwrap() == 1
    })
    .await;
    stop.send(()).unwrap();

    // Another dispatcher takes the delivery over long before the 60 s lease would expire.
    eventually("the claim to be released", || async {
        let request = ClaimRequest {
            worker: "second",
            now: time::now(),
            lease: Duration::from_secs(60),
            limit: 10,
            per_endpoint: 10,
            per_workspace: 1_000,
            skip_endpoints: &[],
            skip_workspaces: &[],
        };
        !setup
            .store
            .claim_deliveries(&request)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert!(
        setup.attempts(&endpoint).await.is_empty(),
        "the aborted attempt is not recorded"
    );
}

#[tokio::test]
async fn one_tenants_hanging_receivers_do_not_hold_up_another_tenants_deliveries() {
    let setup = Setup::new().await;
    let mut hanging = Vec::new();
    for _ in 0..5 {
        let (url, connections) = raw_server(Raw::Hang).await;
        setup.endpoint(&url).await;
        hanging.push(connections);
    }
    for n in 0..20 {
        setup.reply(&format!("m{n}")).await;
    }

    // Another tenant with a healthy receiver.
    let other = setup
        .store
        .create_workspace("other", Plan::Starter)
        .await
        .unwrap()
        .id;
    let (url, log) = receiver(|_| StatusCode::OK).await;
    let id = ids::new_id(ids::ENDPOINT);
    let row = NewEndpointRow {
        sealed_secret: setup.secrets.seal(&id, &signing::generate_secret()),
        id,
        url,
        description: None,
        events: vec![EventType::LeadReplied],
        format: EndpointFormat::Json,
    };
    setup.store.create_endpoint(&other, &row).await.unwrap();
    let lead = serde_json::from_value(json!({"name": "Someone"})).unwrap();
    let lead = setup
        .store
        .create_lead(&other, &lead)
        .await
        .unwrap()
        .lead
        .id;
    let message: NewMessage =
        serde_json::from_value(json!({"direction": "inbound", "text": "hello"})).unwrap();

    let _stop = setup.start(|config| {
        config.attempt_timeout = Duration::from_secs(20);
        config.concurrency = 8;
        config.per_endpoint = 2;
        config.per_workspace = 4;
    });
    eventually("the first tenant's slots to fill", || async {
        hanging.iter().map(|c| *c.lock().unwrap()).sum::<usize>() == 4
    })
    .await;
    setup
        .store
        .add_message(&other, &lead, &message)
        .await
        .unwrap();

    eventually("the other tenant's delivery", || async {
        log.lock().unwrap().len() == 1
    })
    .await;
    let connections: Vec<usize> = hanging.iter().map(|c| *c.lock().unwrap()).collect();
    assert_eq!(
        connections.iter().sum::<usize>(),
        4,
        "the first tenant holds its 4 slots only"
    );
    assert!(
        connections.iter().all(|n| *n <= 2),
        "no endpoint over its cap: {connections:?}"
    );
}
