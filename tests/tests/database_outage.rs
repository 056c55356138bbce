//! PostgreSQL going away under a running api-server and dispatcher: the API answers 503
//! with `Retry-After` and says it is not ready, the dispatcher keeps running, and when the
//! database is back both carry on without a restart.

use std::time::{Duration, Instant};

use serde_json::json;
use socialscalr_tests::cluster::{Client, Cluster, Services, Sink, create_tenant_workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_503_while_postgres_is_down_and_both_roles_resume() {
    let Some(services) = Services::from_env() else {
        return;
    };
    let mut cluster = Cluster::new(&services, &[]).await;
    let base = cluster.start_api_server().await;
    cluster.start_dispatcher(&[]);
    let sink = Sink::start(Duration::ZERO).await;
    let client = Client::new();
    let (_, token) = create_tenant_workspace(&cluster, "outage", "pro", None);
    client
        .register_endpoint(&base, &token, &sink.url("/hook"), &["lead.replied"])
        .await;
    let lead = client.create_lead(&base, &token, "Ada").await;
    let leads = format!("{base}/api/v1/leads");

    if !services.control("kill", "postgres") {
        return;
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = http.get(&leads).bearer_auth(&token).send().await.unwrap();
    let status = answer.status().as_u16();
    let retry_after = answer.headers().get("retry-after").cloned();
    let body: serde_json::Value = answer.json().await.unwrap();
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    services.control("up", "postgres");

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let retry_after: u64 = retry_after
        .expect("a 503 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    assert_eq!(ready.as_u16(), 503, "not ready without its database");

    // Back: the same processes serve and deliver again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let url = format!("{leads}/{lead}/messages");
        let body = json!({"direction": "inbound", "text": "after the outage"});
        let answer = client
            .send(reqwest::Method::POST, &url, &token, Some(&body), None)
            .await;
        match answer {
            Some((201, value)) => break value["event_id"].as_str().unwrap().to_owned(),
            other => assert!(Instant::now() < deadline, "still failing: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sink.receipts().iter().any(|r| r.event_id == event) {
        assert!(
            Instant::now() < deadline,
            "the dispatcher did not resume\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for process in &mut cluster.dispatchers {
        assert!(process.is_running(), "{}", process.log_tail());
    }
}
