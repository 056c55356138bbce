//! The metrics of the real binaries, scraped after some traffic: `socialscalr dev`, and the
//! split roles `socialscalr-api-server` and `socialscalr-dispatcher` with Redis. Each
//! scrape must pass `promtool check metrics` and hold the families an SRE relies on.

mod support;

use std::io::Write;
use std::net::TcpListener as StdTcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use socialscalr_core::testing::{REDIS_URL_VAR, REQUIRE_VAR, service_url};
use support::{Api, Dev, Receiver, eventually, socialscalr_bin};

fn free_port() -> String {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("a bound address").to_string()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

async fn scrape(metrics_addr: &str) -> String {
    let response = client()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("scraping /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.expect("the exposition text")
}

async fn status(url: &str) -> u16 {
    client()
        .get(url)
        .send()
        .await
        .map_or(0, |response| response.status().as_u16())
}

/// Runs `promtool check metrics` on the scrape; fails the test with its findings. Without
/// promtool the check is skipped with a notice, unless the suite requires its tools.
fn promtool_accepts(text: &str) {
    if Command::new("promtool").arg("--version").output().is_err() {
        let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "promtool is missing: scripts/test installs Debian's prometheus"
        );
        let notice = "skipped: promtool check metrics (promtool is not installed)\n";
        let _ = std::io::stderr().write_all(notice.as_bytes());
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test installs Debian's prometheus)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("feeding promtool");
    let output = child.wait_with_output().expect("promtool finishes");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- scrape ---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of the first sample whose line starts with `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample `{series}` in\n{text}"))
}

fn text_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

/// Registers a receiver endpoint, adds a lead and reports its reply: one `lead.replied`
/// delivery. Also reads the lead by id and asks for one that does not exist. Returns the
/// lead's id and the event's.
async fn traffic(api: &Api, receiver: &Receiver) -> (String, String) {
    api.create(
        "/api/v1/webhooks",
        json!({"url": receiver.url("/hooks"), "events": ["lead.replied"]}),
    )
    .await;
    let lead = api
        .create("/api/v1/leads", json!({"name": "Sarah Chen"}))
        .await;
    let lead_id = text_of(&lead, "id").to_owned();
    api.fetch(&format!("/api/v1/leads/{lead_id}")).await;
    assert_eq!(api.get("/api/v1/leads/ld_missing").await.status, 404);
    let reply = json!({"direction": "inbound", "text": "Sure - send a link."});
    let reported = api
        .create(&format!("/api/v1/leads/{lead_id}/messages"), reply)
        .await;
    let event_id = text_of(&reported, "event_id").to_owned();
    receiver.wait_for_deliveries("/hooks", &[&event_id]).await;
    (lead_id, event_id)
}

/// What the API's scrape must show after [`traffic`].
fn assert_api_families(text: &str, lead_id: &str, backend: &str) {
    let created =
        r#"socialscalr_api_requests_total{method="POST",route="/api/v1/leads",status="201"}"#;
    assert!(value(text, created) >= 1.0);
    let by_id =
        r#"socialscalr_api_requests_total{method="GET",route="/api/v1/leads/{id}",status="200"}"#;
    assert!(value(text, by_id) >= 1.0);
    let missing =
        r#"socialscalr_api_requests_total{method="GET",route="/api/v1/leads/{id}",status="404"}"#;
    assert!(value(text, missing) >= 1.0);
    assert!(!text.contains(lead_id), "raw paths never become labels");
    let latency =
        r#"socialscalr_api_request_duration_seconds_count{method="POST",route="/api/v1/leads"}"#;
    assert!(value(text, latency) >= 1.0);
    let workspace = r#"socialscalr_api_workspace_requests_total{class="2xx",workspace="ws_"#;
    assert!(value(text, workspace) >= 4.0);
    let degraded = format!(r#"socialscalr_ratelimit_degraded{{backend="{backend}"}}"#);
    assert_eq!(value(text, &degraded), 0.0);
}

/// What the delivering process's scrape must show after [`traffic`].
fn assert_delivery_families(text: &str) {
    let delivered =
        r#"socialscalr_webhook_attempts_total{event_type="lead.replied",result="delivered"}"#;
    assert_eq!(value(text, delivered), 1.0);
    let finished =
        r#"socialscalr_webhook_deliveries_total{event_type="lead.replied",outcome="delivered"}"#;
    assert_eq!(value(text, finished), 1.0);
    let latency =
        r#"socialscalr_webhook_delivery_latency_seconds_count{event_type="lead.replied"}"#;
    assert_eq!(value(text, latency), 1.0);
    let latency_sum =
        r#"socialscalr_webhook_delivery_latency_seconds_sum{event_type="lead.replied"}"#;
    let seconds = value(text, latency_sum);
    assert!(
        seconds > 0.0 && seconds < 30.0,
        "event to 2xx took {seconds} s"
    );
    assert_eq!(
        value(text, "socialscalr_webhook_attempt_duration_seconds_count"),
        1.0
    );
    assert!(value(text, "socialscalr_webhook_queue_pending") >= 0.0);
    assert!(value(text, "socialscalr_webhook_queue_oldest_pending_age_seconds") >= 0.0);
    assert_eq!(value(text, "socialscalr_webhook_in_flight"), 0.0);
    assert_eq!(value(text, "socialscalr_webhook_throttled_workspaces"), 0.0);
}

#[tokio::test]
async fn dev_serves_metrics_that_promtool_accepts_after_traffic() {
    let metrics_addr = free_port();
    let dev = Dev::start_with_env(&[("METRICS_ADDR", &metrics_addr)]).await;
    let receiver = Receiver::start().await;
    let (lead_id, _) = traffic(&dev.api(), &receiver).await;

    // The delivery's metrics are written right after the receiver answers.
    let text = eventually("the delivery in the metrics", || {
        let addr = metrics_addr.clone();
        async move {
            let text = scrape(&addr).await;
            text.contains("socialscalr_webhook_delivery_latency_seconds_count")
                .then_some(text)
        }
    })
    .await;
    promtool_accepts(&text);
    assert!(text.contains(r#"socialscalr_build_info{role="dev",version="#));
    assert_api_families(&text, &lead_id, "local");
    assert_delivery_families(&text);
    assert_eq!(status(&format!("http://{metrics_addr}/healthz")).await, 200);
    assert_eq!(status(&format!("http://{metrics_addr}/readyz")).await, 200);
}

/// A role binary running until dropped.
struct Role {
    child: Child,
    log: PathBuf,
}

impl Role {
    fn spawn(name: &str, env: &[(String, String)], dir: &Path) -> Role {
        let bin = socialscalr_bin().with_file_name(name);
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(&bin)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .env("RUST_LOG", "info")
            .env("SOCIALSCALR_LOG_FORMAT", "text")
            .env("SOCIALSCALR_RETRY_SCHEDULE", "1s,2s")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Role { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli_json(database_url: &str, args: &[&str]) -> Value {
    let output = Command::new(socialscalr_bin())
        .args(args)
        .arg("--json")
        .env("DATABASE_URL", database_url)
        .env_remove("REDIS_URL")
        .output()
        .expect("running the CLI");
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).expect("the CLI printed JSON")
}

#[tokio::test]
async fn the_split_roles_serve_their_metrics_with_redis_limits() {
    let Some(redis_url) = service_url(REDIS_URL_VAR) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/split.db", dir.path().display());
    cli_json(
        &database_url,
        &["workspace", "create", "acme", "--plan", "pro"],
    );
    let issued = cli_json(
        &database_url,
        &["token", "create", "--workspace", "acme", "--admin"],
    );
    let token = text_of(&issued, "token").to_owned();

    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let (listen, api_metrics, dispatcher_metrics) = (free_port(), free_port(), free_port());
    let env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let common = [
            ("DATABASE_URL", database_url.as_str()),
            ("SOCIALSCALR_SECRET_KEY", key.as_str()),
            ("SOCIALSCALR_ALLOW_LOOPBACK_TARGETS", "true"),
            ("REDIS_URL", redis_url.as_str()),
        ];
        common
            .iter()
            .chain(extra)
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    };
    let api_env = env(&[("LISTEN_ADDR", &listen), ("METRICS_ADDR", &api_metrics)]);
    let api_role = Role::spawn("socialscalr-api-server", &api_env, dir.path());
    let dispatcher_env = env(&[("METRICS_ADDR", &dispatcher_metrics)]);
    let dispatcher_role = Role::spawn("socialscalr-dispatcher", &dispatcher_env, dir.path());
    for (addr, role) in [
        (&listen, &api_role),
        (&api_metrics, &api_role),
        (&dispatcher_metrics, &dispatcher_role),
    ] {
        let url = format!("http://{addr}/healthz");
        eventually(&format!("{url}\n{}", role.log()), || {
            let url = url.clone();
            async move { (status(&url).await == 200).then_some(()) }
        })
        .await;
    }

    let receiver = Receiver::start().await;
    let api = Api::new(&format!("http://{listen}"), &token);
    let (lead_id, _) = traffic(&api, &receiver).await;

    let text = scrape(&api_metrics).await;
    promtool_accepts(&text);
    assert!(text.contains(r#"socialscalr_build_info{role="api-server",version="#));
    assert_api_families(&text, &lead_id, "redis");
    assert!(
        !text.contains("socialscalr_webhook_attempts_total"),
        "no delivery metrics"
    );

    let text = eventually("the delivery in the dispatcher's metrics", || {
        let addr = dispatcher_metrics.clone();
        async move {
            let text = scrape(&addr).await;
            text.contains("socialscalr_webhook_delivery_latency_seconds_count")
                .then_some(text)
        }
    })
    .await;
    promtool_accepts(&text);
    assert!(text.contains(r#"socialscalr_build_info{role="dispatcher",version="#));
    assert!(text.contains(r#"socialscalr_ratelimit_degraded{backend="redis"} 0"#));
    assert_delivery_families(&text);
    assert!(
        !text.contains("socialscalr_api_requests_total"),
        "no API metrics"
    );
    for addr in [&api_metrics, &dispatcher_metrics] {
        assert_eq!(status(&format!("http://{addr}/readyz")).await, 200);
    }
}
