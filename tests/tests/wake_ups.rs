//! A new event wakes dispatchers in other processes through the database: with polling
//! set to once an hour, an event written by an api-server process still goes out.

use std::time::{Duration, Instant};

use serde_json::json;
use socialscalr_tests::cluster::{Client, Cluster, Services, Sink, create_tenant_workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_from_another_process_wakes_an_idle_dispatcher() {
    let Some(services) = Services::from_env() else {
        return;
    };
    let mut cluster = Cluster::new(&services, &[]).await;
    let base = cluster.start_api_server().await;
    let sink = Sink::start(Duration::ZERO).await;
    let client = Client::new();
    let (_, token) = create_tenant_workspace(&cluster, "wake", "pro", None);
    client
        .register_endpoint(&base, &token, &sink.url("/hook"), &["lead.replied"])
        .await;
    let lead = client.create_lead(&base, &token, "Ada").await;
    let hourly = [("SOCIALSCALR_DISPATCH_POLL_INTERVAL", "1h".to_owned())];
    cluster.start_dispatcher(&hourly);
    // Its first claim at start finds nothing; from then on only a wake-up can send.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut events = Vec::new();
    for n in 0..3 {
        let url = format!("{base}/api/v1/leads/{lead}/messages");
        let body = json!({"direction": "inbound", "text": format!("hello {n}")});
        let (status, answer) = client
            .post_until_answered(&url, &token, &body, &n.to_string())
            .await;
        assert_eq!(status, 201, "{answer}");
        let event = answer["event_id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sink.receipts().iter().any(|r| r.event_id == event) {
            assert!(
                Instant::now() < deadline,
                "event {n} was not sent without a poll\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        events.push(event);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(sink.count(), 3);
}
