//! The benchmark harness: dispatch throughput and event-to-2xx latency with one and two
//! dispatchers, and API throughput on a workspace of 100,000 leads, each beside a ceiling
//! measured in the same run on the same machine. Run it through `scripts/bench`, which
//! builds release binaries and starts PostgreSQL and Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socialscalr_core::model::{NewLead, NewMessage};
use socialscalr_core::store::Store;
use socialscalr_tests::cluster::{Client, Cluster, Services, Sink, create_tenant_workspace};

/// Workspaces in the dispatch runs, one endpoint each.
const WORKSPACES: usize = 16;
/// Events queued before the dispatchers start, to measure sustained throughput.
const BACKLOG: usize = 20_000;
/// The steady rate at which latency is measured, and for how long.
const RATE: u64 = 1_000;
const RATE_SECONDS: u64 = 10;
const LEADS: i64 = 100_000;
const LOAD_SECONDS: u64 = 10;
const LOAD_CONNECTIONS: usize = 32;

#[tokio::main]
async fn main() {
    let services = Services::from_env().expect("scripts/bench starts PostgreSQL and Redis");
    println!("| measure | result | ceiling in the same run | ratio |");
    println!("|---|---|---|---|");

    let sink_ceiling = {
        let sink = Sink::start(Duration::ZERO).await;
        let body = json!({"event": "lead.replied", "data": {"text": "x".repeat(400)}});
        let stats = drive(
            Request::post(sink.url("/ceiling"), body),
            64,
            Duration::from_secs(5),
        )
        .await;
        stats.per_second()
    };
    // `SOCIALSCALR_BENCH_DISPATCHERS=2` measures one case alone; default `1,2`.
    let counts = std::env::var("SOCIALSCALR_BENCH_DISPATCHERS").unwrap_or_else(|_| "1,2".into());
    for dispatchers in counts.split(',').filter_map(|n| n.trim().parse().ok()) {
        dispatch(&services, dispatchers, sink_ceiling).await;
    }
    api(&services).await;
}

async fn dispatch(services: &Services, dispatchers: usize, ceiling: f64) {
    let env = [("RUST_LOG", "warn")];
    let mut cluster = Cluster::new(services, &env).await;
    let base = cluster.start_api_server().await;
    let sink = Sink::start(Duration::ZERO).await;
    let client = Client::new();
    let store = socialscalr_core::store::open(&cluster.database_url)
        .await
        .expect("the benchmark opens the store");
    let mut leads = Vec::new();
    for n in 0..WORKSPACES {
        let name = format!("bench-{n}");
        let limits = Some((100_000_000, 100_000_000));
        let (workspace, token) = create_tenant_workspace(&cluster, &name, "pro", limits);
        let url = sink.url(&format!("/{name}"));
        client
            .register_endpoint(&base, &token, &url, &["lead.replied"])
            .await;
        let lead: NewLead = serde_json::from_value(json!({"name": "Ada"})).unwrap();
        let lead = store.create_lead(&workspace, &lead).await.unwrap();
        leads.push((workspace, lead.lead.id));
    }
    let leads = Arc::new(leads);

    // Sustained throughput: a backlog queued with no dispatcher running, then drained.
    let started = Instant::now();
    produce(&store, &leads, BACKLOG, None).await;
    let queued_in = started.elapsed();
    for _ in 0..dispatchers {
        cluster.start_dispatcher(&[]);
    }
    wait_for(&sink, BACKLOG, Duration::from_secs(300)).await;
    let receipts = sink.receipts();
    let first = receipts.iter().map(|r| r.at).min().unwrap();
    let last = receipts.iter().map(|r| r.at).max().unwrap();
    let throughput = BACKLOG as f64 / (last - first).as_secs_f64();
    println!(
        "| deliveries/s, {dispatchers} dispatcher(s), {BACKLOG} queued (queued in {:.1} s) \
         | {throughput:.0} | {ceiling:.0} receiver requests/s | {:.2} |",
        queued_in.as_secs_f64(),
        throughput / ceiling
    );

    // Latency at a steady rate: from the moment an event is written to its 2xx.
    let created = Arc::new(Mutex::new(HashMap::new()));
    let total = (RATE * RATE_SECONDS) as usize;
    produce(&store, &leads, total, Some(Arc::clone(&created))).await;
    wait_for(&sink, BACKLOG + total, Duration::from_secs(120)).await;
    let created = created.lock().unwrap();
    let mut latencies: Vec<Duration> = sink
        .receipts()
        .iter()
        .filter_map(|r| created.get(&r.event_id).map(|at: &Instant| r.at - *at))
        .collect();
    latencies.sort();
    println!(
        "| event-to-2xx at {RATE} events/s, {dispatchers} dispatcher(s): p50 / p99 / max \
         | {} / {} / {} ms | target: p99 < 50 ms | |",
        millis(percentile(&latencies, 0.50)),
        millis(percentile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default()),
    );
}

/// Writes `count` events (inbound messages) round-robin over the workspaces; at [`RATE`]
/// per second when `created` is given, recording when each was written, else at once.
async fn produce(
    store: &Arc<dyn Store>,
    leads: &Arc<Vec<(String, String)>>,
    count: usize,
    created: Option<Arc<Mutex<HashMap<String, Instant>>>>,
) {
    let paced = created.is_some();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let limit = Arc::new(tokio::sync::Semaphore::new(if paced { 256 } else { 16 }));
    for n in 0..count {
        if paced {
            tick.tick().await;
        }
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        let (store, leads, created) = (Arc::clone(store), Arc::clone(leads), created.clone());
        tasks.spawn(async move {
            let (workspace, lead) = &leads[n % leads.len()];
            let message: NewMessage =
                serde_json::from_value(json!({"direction": "inbound", "text": format!("m{n}")}))
                    .unwrap();
            let at = Instant::now();
            let (_, event) = store.add_message(workspace, lead, &message).await.unwrap();
            if let (Some(created), Some(event)) = (created, event) {
                created.lock().unwrap().insert(event, at);
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn wait_for(sink: &Sink, count: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while sink.count() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} deliveries arrived",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn api(services: &Services) {
    let env = [("RUST_LOG", "warn")];
    let mut cluster = Cluster::new(services, &env).await;
    let base = cluster.start_api_server().await;
    let limits = Some((100_000_000, 100_000_000));
    let (workspace, token) = create_tenant_workspace(&cluster, "bench-leads", "pro", limits);
    seed_leads(&cluster.database_url, &workspace).await;

    let url = format!("{base}/api/v1/leads?stage=replied&since=24h");
    let probe = Client::new()
        .send(reqwest::Method::GET, &url, &token, None, None)
        .await
        .expect("the API answers");
    assert_eq!(probe.0, 200, "{}", probe.1);
    assert_eq!(probe.1["data"].as_array().map(Vec::len), Some(50));

    let mut request = Request::get(url);
    request.token = Some(token);
    let stats = drive(request, LOAD_CONNECTIONS, Duration::from_secs(LOAD_SECONDS)).await;

    let empty = empty_server().await;
    let ceiling = drive(
        Request::get(format!("http://{empty}/")),
        LOAD_CONNECTIONS,
        Duration::from_secs(LOAD_SECONDS),
    )
    .await;
    println!(
        "| GET /leads?stage=replied&since=24h, {LEADS} leads: requests/s (p50 / p99) \
         | {:.0} ({} / {} ms, {} errors) | {:.0} empty-handler requests/s ({} / {} ms) \
         | {:.2} |",
        stats.per_second(),
        millis(stats.percentile(0.50)),
        millis(stats.percentile(0.99)),
        stats.errors,
        ceiling.per_second(),
        millis(ceiling.percentile(0.50)),
        millis(ceiling.percentile(0.99)),
        stats.per_second() / ceiling.per_second()
    );
}

/// 100,000 leads in one workspace, a fifth of them replied, with activity spread over the
/// last two days, written in one statement: going through the API would take longer than
/// the measurement itself.
async fn seed_leads(database_url: &str, workspace: &str) {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(database_url).await.unwrap();
    let now = socialscalr_core::time::to_micros(socialscalr_core::time::now());
    sqlx::query(
        "INSERT INTO leads (id, workspace_id, name, stage, tags, custom_fields, \
         last_activity_at, created_at, updated_at) \
         SELECT 'ld_' || lpad(n::text, 26, '0'), $1, 'Lead ' || n, \
                (ARRAY['new','invited','connected','replied','meeting'])[n % 5 + 1], \
                '[]', '{}', $2 - (n % 172800) * 1000000, $2, $2 \
         FROM generate_series(1, $3) AS n",
    )
    .bind(workspace)
    .bind(now)
    .bind(LEADS)
    .execute(&mut db)
    .await
    .expect("seeding leads");
    sqlx::query("ANALYZE leads").execute(&mut db).await.unwrap();
}

async fn empty_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async { "" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[derive(Clone)]
struct Request {
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    token: Option<String>,
}

impl Request {
    fn get(url: String) -> Request {
        Request {
            method: reqwest::Method::GET,
            url,
            body: None,
            token: None,
        }
    }

    fn post(url: String, body: Value) -> Request {
        Request {
            method: reqwest::Method::POST,
            url,
            body: Some(body),
            token: None,
        }
    }
}

struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
}

impl Stats {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// The plain load loop: `connections` clients each sending the request again as soon as
/// the last answer arrived, for `length`.
async fn drive(request: Request, connections: usize, length: Duration) -> Stats {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (http, request, stop, errors) = (
            http.clone(),
            request.clone(),
            Arc::clone(&stop),
            Arc::clone(&errors),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let mut call = http.request(request.method.clone(), &request.url);
                if let Some(body) = &request.body {
                    call = call.json(body);
                }
                if let Some(token) = &request.token {
                    call = call.bearer_auth(token);
                }
                let at = Instant::now();
                let ok = match call.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(at.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Stats {
        latencies,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}
