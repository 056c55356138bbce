//! The outbound cap: a starter workspace makes at most 25 delivery attempts in any rolling
//! window (a minute in production; a few seconds here), retries included. A burst over it
//! stays queued and drains at the cap, nothing is dropped, and another workspace's
//! deliveries go on meanwhile. Through Redis the cap holds across dispatcher replicas.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::event::EventType;
use socialscalr_core::ids;
use socialscalr_core::model::{EndpointFormat, NewMessage};
use socialscalr_core::plan::Plan;
use socialscalr_core::ratelimit::Limiter;
use socialscalr_core::retry::RetrySchedule;
use socialscalr_core::signing;
use socialscalr_core::store::{NewEndpointRow, Store};
use socialscalr_core::target::TargetPolicy;
use socialscalr_core::testing::{REDIS_URL_VAR, service_url};
use socialscalr_dispatcher::{Dispatcher, DispatcherConfig};
use socialscalr_metrics::{DeliveryMetrics, Metrics};
use tokio::sync::oneshot;
use tokio::time::Instant;

const STARTER_CAP: usize = 25;
const WINDOW: Duration = Duration::from_secs(3);
/// Attempts are counted when claimed and seen when they arrive; the spread of the time in
/// between is allowed for when the receiver checks the cap.
const TRANSPORT_SLACK: Duration = Duration::from_millis(500);

/// One request as the receiver saw it.
#[derive(Clone)]
struct Arrival {
    workspace: String,
    event: String,
    at: Instant,
}

type Arrivals = Arc<Mutex<Vec<Arrival>>>;

struct Tenant {
    id: String,
    lead: String,
}

struct World {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    arrivals: Arrivals,
    _dir: tempfile::TempDir,
}

impl World {
    /// A store and a receiver; with `fail_first`, each event's first attempt gets a 500.
    async fn new(fail_first: bool) -> (World, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cap.db", dir.path().display());
        let store = socialscalr_core::store::open(&url).await.unwrap();
        let arrivals: Arrivals = Arc::default();
        let seen = Arc::clone(&arrivals);
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let envelope: Value = serde_json::from_slice(&body).unwrap();
                    let event = headers["x-socialscalr-event-id"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let mut seen = seen.lock().unwrap();
                    let retry = seen.iter().any(|a| a.event == event);
                    seen.push(Arrival {
                        workspace: envelope["workspace_id"].as_str().unwrap().to_owned(),
                        event,
                        at: Instant::now(),
                    });
                    if fail_first && !retry {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let world = World {
            store,
            secrets,
            arrivals,
            _dir: dir,
        };
        (world, hook)
    }

    /// A workspace with an endpoint for `lead.replied` at `hook` and a lead.
    async fn tenant(&self, name: &str, plan: Plan, hook: &str) -> Tenant {
        let id = self.store.create_workspace(name, plan).await.unwrap().id;
        let endpoint = ids::new_id(ids::ENDPOINT);
        let row = NewEndpointRow {
            sealed_secret: self.secrets.seal(&endpoint, &signing::generate_secret()),
            id: endpoint,
            url: hook.to_owned(),
            description: None,
            events: vec![EventType::LeadReplied],
            format: EndpointFormat::Json,
        };
        self.store.create_endpoint(&id, &row).await.unwrap();
        let lead = serde_json::from_value(json!({"name": "Sarah Chen"})).unwrap();
        let lead = self.store.create_lead(&id, &lead).await.unwrap().lead.id;
        Tenant { id, lead }
    }

    /// `count` replies, each a `lead.replied` event with one delivery.
    async fn replies(&self, tenant: &Tenant, count: usize) {
        for n in 0..count {
            let message: NewMessage =
                serde_json::from_value(json!({"direction": "inbound", "text": format!("{n}")}))
                    .unwrap();
            self.store
                .add_message(&tenant.id, &tenant.lead, &message)
                .await
                .unwrap();
        }
    }

    fn start(&self, worker: &str, limiter: Arc<Limiter>, metrics: &Metrics) -> oneshot::Sender<()> {
        let policy = TargetPolicy {
            allow_loopback: true,
        };
        let mut config = DispatcherConfig::new(RetrySchedule::parse("1s").unwrap(), policy);
        config.worker_id = worker.to_owned();
        config.poll_interval = Duration::from_millis(100);
        config.outbound_window = WINDOW;
        let dispatcher = Dispatcher::new(Arc::clone(&self.store), self.secrets.clone(), config)
            .unwrap()
            .with_limiter(limiter)
            .with_metrics(DeliveryMetrics::register(metrics));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(dispatcher.run(async move {
            let _ = stopped.await;
        }));
        stop
    }

    fn arrivals_of(&self, workspace: &str) -> Vec<Arrival> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals
            .iter()
            .filter(|a| a.workspace == workspace)
            .cloned()
            .collect()
    }

    /// Waits until the store records `count` delivered and nothing pending or failed.
    async fn wait_until_succeeded(&self, workspace: &str, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let counts = self.store.delivery_counts(workspace).await.unwrap();
            if (counts.succeeded, counts.pending, counts.failed) == (count, 0, 0) {
                return;
            }
            assert!(Instant::now() < deadline, "not all delivered: {counts:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&World) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The most attempts seen in any stretch of the window, less the transport's slack.
fn busiest_window(arrivals: &[Arrival]) -> usize {
    let mut times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    times.sort();
    let span = WINDOW - TRANSPORT_SLACK;
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|&&t| t < times[i] + span)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn distinct_events(arrivals: &[Arrival]) -> usize {
    arrivals
        .iter()
        .map(|a| &a.event)
        .collect::<HashSet<_>>()
        .len()
}

fn throttled(metrics: &Metrics, workspace: &str) -> u64 {
    let label = format!(r#"workspace="{workspace}""#);
    metrics
        .encode()
        .lines()
        .filter(|line| line.starts_with("socialscalr_webhook_throttled_total"))
        .filter(|line| line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_cap_drains_at_the_cap_while_another_workspace_goes_on() {
    let (world, hook) = World::new(false).await;
    let busy = world.tenant("busy", Plan::Starter, &hook).await;
    let quiet = world.tenant("quiet", Plan::Starter, &hook).await;
    world.replies(&busy, 60).await;
    let metrics = Metrics::new("dispatcher", 100);
    let _stop = world.start("w1", Arc::new(Limiter::local()), &metrics);

    world
        .wait_for("the first window's deliveries", |w| {
            w.arrivals_of(&busy.id).len() >= STARTER_CAP
        })
        .await;
    world.replies(&quiet, 5).await;
    world
        .wait_for("the other workspace's deliveries", |w| {
            w.arrivals_of(&quiet.id).len() == 5
        })
        .await;
    assert!(
        world.arrivals_of(&busy.id).len() < 60,
        "the other workspace's events went out while the burst was still held back"
    );

    world
        .wait_for("the whole burst", |w| w.arrivals_of(&busy.id).len() == 60)
        .await;
    let arrivals = world.arrivals_of(&busy.id);
    assert_eq!(distinct_events(&arrivals), 60, "every event delivered once");
    assert!(
        busiest_window(&arrivals) <= STARTER_CAP,
        "never more than the cap"
    );
    assert!(throttled(&metrics, &busy.id) > 0);
    assert_eq!(throttled(&metrics, &quiet.id), 0);
    world.wait_until_succeeded(&busy.id, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_count_against_the_cap() {
    let (world, hook) = World::new(true).await;
    let busy = world.tenant("busy", Plan::Starter, &hook).await;
    // 20 events fit the cap; their 20 retries a second later do not all fit with them.
    world.replies(&busy, 20).await;
    let metrics = Metrics::new("dispatcher", 100);
    let _stop = world.start("w1", Arc::new(Limiter::local()), &metrics);

    world
        .wait_for("every event's retry", |w| {
            w.arrivals_of(&busy.id).len() == 40
        })
        .await;
    let arrivals = world.arrivals_of(&busy.id);
    assert!(busiest_window(&arrivals) <= STARTER_CAP);
    assert!(
        throttled(&metrics, &busy.id) > 0,
        "some retries waited for the cap"
    );
    world.wait_until_succeeded(&busy.id, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_sharing_redis_hold_the_cap_between_them() {
    let Some(redis_url) = service_url(REDIS_URL_VAR) else {
        return;
    };
    let (world, hook) = World::new(false).await;
    let busy = world.tenant("busy", Plan::Starter, &hook).await;
    world.replies(&busy, 60).await;
    let (first, second) = (
        Metrics::new("dispatcher", 100),
        Metrics::new("dispatcher", 100),
    );
    let _a = world.start("w1", Arc::new(Limiter::redis(&redis_url).unwrap()), &first);
    let _b = world.start("w2", Arc::new(Limiter::redis(&redis_url).unwrap()), &second);

    world
        .wait_for("the whole burst", |w| w.arrivals_of(&busy.id).len() == 60)
        .await;
    let arrivals = world.arrivals_of(&busy.id);
    assert_eq!(distinct_events(&arrivals), 60);
    assert!(
        busiest_window(&arrivals) <= STARTER_CAP,
        "the cap holds across both dispatchers"
    );
    assert!(throttled(&first, &busy.id) + throttled(&second, &busy.id) > 0);
}
