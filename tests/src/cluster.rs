//! The scaled-out deployment on one machine: `socialscalr-api-server` and
//! `socialscalr-dispatcher` processes sharing a PostgreSQL database and Redis, as the
//! multi-process tests and the benchmark run it. Every socket is on 127.0.0.1; the servers
//! are the private instances `scripts/services` starts.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use bytes::Bytes;
use serde_json::{Value, json};
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::testing;
use tempfile::TempDir;

/// Where the binaries are: `SOCIALSCALR_BIN_DIR`, else the directory above the running
/// executable's (`<target>/debug/deps/<test>` → `<target>/debug`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SOCIALSCALR_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the process knows its executable");
    let dir = exe.parent().expect("an executable lives in a directory");
    if dir.ends_with("deps") {
        dir.parent().expect("deps has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}

/// The PostgreSQL and Redis servers of the run, and the script that stops and starts them.
pub struct Services {
    pub redis_url: String,
    dir: Option<PathBuf>,
}

impl Services {
    /// The suite's servers, or `None` (with a notice) when the suite runs without them.
    pub fn from_env() -> Option<Services> {
        testing::service_url(testing::DATABASE_URL_VAR)?;
        let redis_url = testing::service_url(testing::REDIS_URL_VAR)?;
        let dir = std::env::var_os("SOCIALSCALR_TEST_SERVICES_DIR").map(PathBuf::from);
        Some(Services { redis_url, dir })
    }

    /// Runs `scripts/services <action> <service> <dir>`: `restart`, `kill` or `up`.
    /// Servers the suite did not start (existing ones named by the environment) are left
    /// alone, and this says so.
    pub fn control(&self, action: &str, service: &str) -> bool {
        let Some(dir) = &self.dir else {
            eprintln!("not running `{action} {service}`: the servers are not the suite's own");
            return false;
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services");
        let status = Command::new("bash")
            .arg(script)
            .args([action, service])
            .arg(dir)
            .status()
            .expect("running scripts/services");
        assert!(
            status.success(),
            "scripts/services {action} {service} failed"
        );
        true
    }
}

/// One process of the deployment, killed when dropped.
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish or release anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `grace` for the exit.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        assert!(sent, "sending SIGTERM to {}", self.name);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines the process logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of its own on the run's PostgreSQL, and the processes that share it.
pub struct Cluster {
    pub database_url: String,
    pub redis_url: String,
    secret_key: String,
    logs: TempDir,
    pub api_servers: Vec<(Process, String)>,
    pub dispatchers: Vec<Process>,
    extra_env: Vec<(String, String)>,
}

impl Cluster {
    /// Creates and migrates a fresh database. `extra_env` is given to every process.
    pub async fn new(services: &Services, extra_env: &[(&str, &str)]) -> Cluster {
        let database_url = testing::fresh_postgres_database()
            .await
            .expect("Services::from_env found the PostgreSQL server");
        let cluster = Cluster {
            database_url,
            redis_url: services.redis_url.clone(),
            secret_key: SecretBox::generate_key(),
            logs: tempfile::tempdir().expect("a log directory"),
            api_servers: Vec::new(),
            dispatchers: Vec::new(),
            extra_env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        cluster.cli(&["migrate"]);
        cluster
    }

    fn command(&self, binary_name: &str) -> Command {
        let mut command = Command::new(binary(binary_name));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("REDIS_URL", &self.redis_url)
            .env("SOCIALSCALR_SECRET_KEY", &self.secret_key)
            .env("SOCIALSCALR_ALLOW_LOOPBACK_TARGETS", "true")
            .env("SOCIALSCALR_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        for (name, value) in &self.extra_env {
            command.env(name, value);
        }
        command
    }

    /// Runs the admin CLI on the cluster's database and returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self
            .command("socialscalr")
            .args(args)
            .output()
            .expect("running socialscalr");
        assert!(
            output.status.success(),
            "socialscalr {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("the CLI prints UTF-8")
    }

    /// Runs the CLI with `--json` and parses what it prints.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.cli(&args);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn spawn(&self, binary_name: &str, name: &str, env: &[(&str, String)]) -> Process {
        let log = self.logs.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut command = self.command(binary_name);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdout(file.try_clone().expect("a second log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary_name}: {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Starts an api-server and waits until it answers; returns its base URL.
    pub async fn start_api_server(&mut self) -> String {
        let addr = free_port();
        let name = format!("api-server-{}", self.api_servers.len() + 1);
        let metrics = free_port();
        let env = [
            ("LISTEN_ADDR", addr.to_string()),
            ("METRICS_ADDR", metrics.to_string()),
        ];
        let mut process = self.spawn("socialscalr-api-server", &name, &env);
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(format!("{base}/healthz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                process.is_running() && Instant::now() < deadline,
                "{name} did not start:\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.api_servers.push((process, base.clone()));
        base
    }

    /// Starts a dispatcher; `env` adds to or overrides the cluster's environment.
    pub fn start_dispatcher(&mut self, env: &[(&str, String)]) -> usize {
        let name = format!("dispatcher-{}", self.dispatchers.len() + 1);
        let mut env = env.to_vec();
        env.push(("METRICS_ADDR", free_port().to_string()));
        let process = self.spawn("socialscalr-dispatcher", &name, &env);
        self.dispatchers.push(process);
        self.dispatchers.len() - 1
    }

    /// Every process's log tail, for a failure message.
    pub fn logs(&self) -> String {
        let api = self.api_servers.iter().map(|(p, _)| p);
        api.chain(&self.dispatchers)
            .map(|p| format!("--- {}\n{}", p.name, p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One delivery as the sink saw it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub path: String,
    pub event_id: String,
    pub delivery_id: String,
    pub signature: String,
    pub body: Bytes,
    pub at: Instant,
}

#[derive(Clone, Default)]
struct SinkState {
    receipts: Arc<Mutex<Vec<Receipt>>>,
    delay: Duration,
}

/// A webhook receiver on 127.0.0.1 that answers 200 (after `delay`) and keeps what came.
pub struct Sink {
    addr: SocketAddr,
    state: SinkState,
    server: tokio::task::JoinHandle<()>,
}

impl Sink {
    pub async fn start(delay: Duration) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the sink");
        let addr = listener.local_addr().expect("the sink's address");
        let state = SinkState {
            receipts: Arc::default(),
            delay,
        };
        let app = Router::new().fallback(receive).with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink {
            addr,
            state,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.state
            .receipts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn count(&self) -> usize {
        self.state
            .receipts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(state): State<SinkState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    let receipt = Receipt {
        path: uri.path().to_owned(),
        event_id: header("x-socialscalr-event-id"),
        delivery_id: header("x-socialscalr-delivery-id"),
        signature: header("x-socialscalr-signature"),
        body,
        at,
    };
    state
        .receipts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(receipt);
    StatusCode::OK
}

/// A workspace with a token and its endpoints' signing secrets by path.
pub struct Tenant {
    pub id: String,
    pub token: String,
    pub secrets: HashMap<String, String>,
    pub lead_id: String,
}

/// An HTTP client for the API that retries what an outage refuses (503, a refused or
/// reset connection) under the same `Idempotency-Key`, as a careful integrator does.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Client {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("an HTTP client");
        Client { http }
    }

    /// One request; `None` when it did not get an answer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Option<(u16, Value)> {
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let text = response.text().await.ok()?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some((status, value))
    }

    /// POSTs until it is accepted or refused for a reason other than an outage, for at
    /// most a minute; returns the final status and body.
    pub async fn post_until_answered(
        &self,
        url: &str,
        token: &str,
        body: &Value,
        key: &str,
    ) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self
                .send(reqwest::Method::POST, url, token, Some(body), Some(key))
                .await;
            match answer {
                Some((status, value)) if status != 503 && status != 409 => {
                    return (status, value);
                }
                // 409: the same key is still being processed by an earlier try.
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(answer) => return answer,
                None => panic!("POST {url}: no answer for a minute"),
            }
        }
    }

    /// Registers an endpoint for `events` and returns its signing secret.
    pub async fn register_endpoint(
        &self,
        base: &str,
        token: &str,
        url: &str,
        events: &[&str],
    ) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                &format!("{base}/api/v1/webhooks"),
                token,
                Some(&json!({"url": url, "events": events})),
                None,
            )
            .await
            .expect("the API answers");
        assert_eq!(status, 201, "registering {url}: {body}");
        body["secret"]
            .as_str()
            .expect("a new endpoint shows its secret")
            .to_owned()
    }

    /// Creates a lead and returns its id.
    pub async fn create_lead(&self, base: &str, token: &str, name: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                &format!("{base}/api/v1/leads"),
                token,
                Some(&json!({"name": name})),
                None,
            )
            .await
            .expect("the API answers");
        assert_eq!(status, 201, "creating a lead: {body}");
        body["id"].as_str().expect("a lead has an id").to_owned()
    }
}

/// Creates a workspace with the CLI, with limits high enough not to slow a test down
/// unless given, and a token for it.
pub fn create_tenant_workspace(
    cluster: &Cluster,
    name: &str,
    plan: &str,
    limits: Option<(u32, u32)>,
) -> (String, String) {
    let workspace = cluster.cli_json(&["workspace", "create", name, "--plan", plan]);
    let id = workspace["id"].as_str().expect("a workspace id").to_owned();
    if let Some((requests, events)) = limits {
        cluster.cli_json(&[
            "workspace",
            "set-limits",
            name,
            "--requests-per-minute",
            &requests.to_string(),
            "--webhook-events-per-minute",
            &events.to_string(),
        ]);
    }
    let token = cluster.cli_json(&["token", "create", "--workspace", name, "--name", "load"]);
    let token = token["token"].as_str().expect("a token").to_owned();
    (id, token)
}
