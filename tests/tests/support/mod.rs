//! A harness for end-to-end tests: the real `socialscalr` binary run as `socialscalr dev`
//! on a temporary data directory, a recording webhook receiver, an API client, the CLI
//! and the Node.js signature verifier. Every socket is on 127.0.0.1.

// Each test file compiles this module on its own and may use only part of it.
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::Method as ClientMethod;
use serde_json::{Value, json};
use sha2::Sha256;
use tempfile::TempDir;

/// How long any wait for the system under test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// The retry schedule of every dev process: short, so that retries happen within a test.
pub const RETRY_SCHEDULE: &str = "1s,2s,3s";

const TOKEN_INTRO: &str = "Its API token (shown once):";
const LISTENING_LINE: &str = "socialscalr dev: API on";
pub const STOPPED_LINE: &str = "socialscalr dev: stopped";

/// Polls `check` until it yields a value, failing the test with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the Drop impls.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `socialscalr` binary next to this test's target directory: the test executable is
/// `<target>/debug/deps/<test>-<hash>`, the binary `<target>/debug/socialscalr`.
pub fn socialscalr_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own executable");
    let debug_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/debug/deps");
    let bin = debug_dir.join(format!("socialscalr{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} does not exist: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

/// A command of the `socialscalr` binary, isolated from the caller's configuration.
fn socialscalr_command() -> Command {
    let mut command = Command::new(socialscalr_bin());
    for name in [
        "DATABASE_URL",
        "LISTEN_ADDR",
        "SOCIALSCALR_SECRET_KEY",
        "SOCIALSCALR_LOG_FORMAT",
        "SOCIALSCALR_ALLOW_LOOPBACK_TARGETS",
        "SOCIALSCALR_POST_GRACE",
        "SOCIALSCALR_SCHEDULER_INTERVAL",
        "REDIS_URL",
        "METRICS_ADDR",
        "SOCIALSCALR_METRICS_MAX_WORKSPACES",
        "SOCIALSCALR_OUTBOUND_WINDOW",
    ] {
        command.env_remove(name);
    }
    command
        .env("SOCIALSCALR_RETRY_SCHEDULE", RETRY_SCHEDULE)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

fn free_loopback_port() -> SocketAddr {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    listener
        .local_addr()
        .expect("a bound listener has an address")
}

/// The tail of a log file, for failure messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// One running `socialscalr dev` process. It is killed when dropped, so a failing test
/// leaves nothing behind.
struct DevProcess {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    log_path: PathBuf,
}

impl DevProcess {
    fn spawn(data_dir: &Path, log_path: &Path, env: &[(String, String)]) -> DevProcess {
        let addr = free_loopback_port();
        let log = File::create(log_path).expect("creating the dev process's log file");
        let mut child = socialscalr_command()
            .envs(env.iter().map(|(name, value)| (name, value)))
            .arg("dev")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", socialscalr_bin().display()));
        let pipe = child.stdout.take().expect("stdout is piped");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stdout);
        // Reads until the process closes stdout, so the pipe never fills up.
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lock(&lines).push(line);
            }
        });
        DevProcess {
            child,
            addr,
            stdout,
            reader: Some(reader),
            log_path: log_path.to_owned(),
        }
    }

    fn stdout_lines(&self) -> Vec<String> {
        lock(&self.stdout).clone()
    }

    fn describe(&self) -> String {
        format!(
            "stdout:\n{}\nlog ({}):\n{}",
            self.stdout_lines().join("\n"),
            self.log_path.display(),
            log_tail(&self.log_path)
        )
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The token printed after "Its API token (shown once):" on a first start.
pub fn token_in(stdout: &[String]) -> Option<String> {
    let intro = stdout.iter().position(|line| line.contains(TOKEN_INTRO))?;
    stdout[intro + 1..]
        .iter()
        .flat_map(|line| line.split_whitespace())
        .find(|word| word.starts_with("ssk_"))
        .map(str::to_owned)
}

/// How a graceful stop went.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    /// Everything the stopped process printed on stdout.
    pub stdout: Vec<String>,
}

/// A `socialscalr dev` installation: a temporary data directory, the token printed on its
/// first start and the process currently running on it, if any.
pub struct Dev {
    dir: TempDir,
    starts: usize,
    process: Option<DevProcess>,
    /// Variables set for every start, on top of the harness's own.
    env: Vec<(String, String)>,
    /// The token printed on the first start.
    pub token: String,
    /// What each start printed on stdout, once that process stopped.
    pub stopped_runs: Vec<Stopped>,
}

impl Dev {
    /// Starts `socialscalr dev` on a fresh data directory and reads its first token.
    pub async fn start() -> Dev {
        Dev::start_with_env(&[]).await
    }

    /// Like [`Dev::start`], with environment variables for this start and every restart.
    pub async fn start_with_env(env: &[(&str, &str)]) -> Dev {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let env = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let mut dev = Dev {
            dir,
            starts: 0,
            process: None,
            env,
            token: String::new(),
            stopped_runs: Vec::new(),
        };
        let stdout = dev.launch(true).await;
        dev.token = token_in(&stdout).expect("the first start prints a token");
        dev
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `http://127.0.0.1:<port>` of the running process.
    pub fn base_url(&self) -> String {
        let process = self.process.as_ref().expect("the dev process is running");
        format!("http://{}", process.addr)
    }

    /// A client of the running API with the first start's token.
    pub fn api(&self) -> Api {
        self.api_with_token(&self.token)
    }

    pub fn api_with_token(&self, token: &str) -> Api {
        Api::new(&self.base_url(), token)
    }

    /// Starts a process on the data directory and waits until `/healthz` answers 200. A
    /// port taken between choosing and binding it is retried with another.
    async fn launch(&mut self, expect_token: bool) -> Vec<String> {
        assert!(self.process.is_none(), "a dev process is already running");
        let data_dir = self.data_dir();
        for _ in 0..3 {
            self.starts += 1;
            let log_path = self.dir.path().join(format!("dev-{}.log", self.starts));
            let mut process = DevProcess::spawn(&data_dir, &log_path, &self.env);
            match wait_until_ready(&mut process, expect_token).await {
                Ok(stdout) => {
                    self.process = Some(process);
                    return stdout;
                }
                Err(Exited { port_taken: true }) => continue,
                Err(Exited { port_taken: false }) => {
                    panic!("socialscalr dev exited early\n{}", process.describe())
                }
            }
        }
        panic!("socialscalr dev found its port taken three times in a row");
    }

    /// Stops the running process with SIGINT and waits for it to exit.
    pub async fn stop_gracefully(&mut self) -> &Stopped {
        let mut process = self.process.take().expect("the dev process is running");
        let pid = process.pid().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("running `kill`");
        assert!(sent.success(), "`kill -INT {pid}` failed: {sent}");
        let status = eventually("the dev process to exit after SIGINT", || {
            let exited = process.child.try_wait().expect("polling the dev process");
            async move { exited }
        })
        .await;
        if let Some(reader) = process.reader.take() {
            tokio::task::spawn_blocking(move || reader.join())
                .await
                .expect("joining the stdout reader")
                .expect("the stdout reader does not panic");
        }
        let stdout = process.stdout_lines();
        assert!(
            status.success(),
            "socialscalr dev exited with {status} after SIGINT\n{}",
            process.describe()
        );
        self.stopped_runs.push(Stopped { status, stdout });
        self.stopped_runs.last().expect("just pushed")
    }

    /// Starts a new process on the same data directory. It prints no token.
    pub async fn restart(&mut self) {
        let stdout = self.launch(false).await;
        assert_eq!(token_in(&stdout), None, "a restart printed a new token");
    }

    /// Runs the CLI with `args` and `--data-dir <this installation>`.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        let mut command = socialscalr_command();
        command.args(args).arg("--data-dir").arg(self.data_dir());
        let output = tokio::process::Command::from(command)
            .output()
            .await
            .expect("running the socialscalr CLI");
        CliOutput {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

struct Exited {
    port_taken: bool,
}

async fn wait_until_ready(
    process: &mut DevProcess,
    expect_token: bool,
) -> Result<Vec<String>, Exited> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("building an HTTP client");
    let healthz = format!("http://{}/healthz", process.addr);
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = process.child.try_wait().expect("polling the dev process") {
            let log = std::fs::read_to_string(&process.log_path).unwrap_or_default();
            eprintln!("socialscalr dev exited with {status} while starting");
            return Err(Exited {
                port_taken: log.contains("binding") && log.contains("in use"),
            });
        }
        let stdout = process.stdout_lines();
        let printed = stdout.iter().any(|line| line.starts_with(LISTENING_LINE))
            && (!expect_token || token_in(&stdout).is_some());
        if printed {
            let healthy = client
                .get(&healthz)
                .send()
                .await
                .is_ok_and(|response| response.status() == StatusCode::OK);
            if healthy {
                return Ok(stdout);
            }
        }
        assert!(
            Instant::now() < deadline,
            "socialscalr dev was not ready within {DEADLINE:?}\n{}",
            process.describe()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// The JSON the command printed; fails the test if it failed or printed anything else.
    pub fn json(&self) -> Value {
        assert!(self.status.success(), "the CLI failed: {self:?}");
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("the CLI printed no JSON ({e}): {self:?}"))
    }
}

/// A client of the REST API with one token.
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("building an HTTP client");
        Api {
            client,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    async fn send(&self, method: ClientMethod, path: &str, body: Option<&Value>) -> Response {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("reading the API's answer");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path} answered non-JSON ({e}): {text}"))
        };
        Response { status, body }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(ClientMethod::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(ClientMethod::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(ClientMethod::POST, path, Some(&body)).await
    }

    /// POSTs and expects `201 Created`, returning the created record.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let response = self.post(path, body).await;
        assert_eq!(response.status, 201, "POST {path}: {}", response.body);
        response.body
    }

    /// GETs and expects `200 OK`.
    pub async fn fetch(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        response.body
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    /// A header's value; fails the test if it is missing or not text.
    pub fn header(&self, name: &str) -> &str {
        let value = self
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("the delivery has no `{name}` header: {self:?}"));
        value
            .to_str()
            .unwrap_or_else(|_| panic!("`{name}` is not text: {value:?}"))
    }

    pub fn event_id(&self) -> Option<&str> {
        self.headers
            .get("x-socialscalr-event-id")
            .and_then(|value| value.to_str().ok())
    }

    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the body is UTF-8")
    }

    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

/// Decides the status of a request from the request and how many requests carrying its
/// event id (this one included) arrived so far.
pub type Responder = Box<dyn Fn(&Received, usize) -> u16 + Send>;

/// The text the receiver answers with, which the delivery log keeps as an excerpt.
pub fn receiver_answer(status: u16) -> String {
    format!("test receiver answered {status}")
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    responder: Arc<Mutex<Responder>>,
}

/// A webhook receiver on 127.0.0.1 that records every request's headers and raw body.
pub struct Receiver {
    addr: SocketAddr,
    state: ReceiverState,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts on a random port, answering 200 to everything.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let state = ReceiverState {
            received: Arc::new(Mutex::new(Vec::new())),
            responder: Arc::new(Mutex::new(Box::new(|_: &Received, _| 200))),
        };
        let app = Router::new().fallback(record).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serving the receiver");
        });
        Receiver {
            addr,
            state,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sets how the following requests are answered.
    pub fn respond_with(&self, responder: impl Fn(&Received, usize) -> u16 + Send + 'static) {
        *lock(&self.state.responder) = Box::new(responder);
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    /// The requests carrying an event id, oldest first.
    pub fn for_event(&self, event_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|request| request.event_id() == Some(event_id))
            .collect()
    }

    /// Waits until every event id has a request to `path` the receiver answered with a 2xx.
    pub async fn wait_for_deliveries(&self, path: &str, event_ids: &[&str]) -> Vec<Received> {
        let what = format!("deliveries of {event_ids:?} to {path}");
        eventually(&what, || {
            let received = self.received();
            let done = event_ids.iter().all(|id| {
                received
                    .iter()
                    .any(|r| r.path == path && r.event_id() == Some(id) && r.delivered())
            });
            async move { done.then_some(received) }
        })
        .await
    }

    /// Waits until every event id has a request to `path`, whatever it was answered.
    pub async fn wait_for_attempts(&self, path: &str, event_ids: &[&str]) -> Vec<Received> {
        let what = format!("attempts to deliver {event_ids:?} to {path}");
        eventually(&what, || {
            let received = self.received();
            let done = event_ids.iter().all(|id| {
                received
                    .iter()
                    .any(|r| r.path == path && r.event_id() == Some(id))
            });
            async move { done.then_some(received) }
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(state): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut request = Received {
        path: uri.path().to_owned(),
        headers,
        body,
        answered: 0,
    };
    let status = {
        let mut received = lock(&state.received);
        let nth = match request.event_id() {
            Some(id) => {
                let before = received.iter().filter(|r| r.event_id() == Some(id));
                before.count() + 1
            }
            None => received.len() + 1,
        };
        let status = if method == Method::POST {
            (lock(&state.responder))(&request, nth)
        } else {
            405
        };
        request.answered = status;
        received.push(request);
        status
    };
    let code = StatusCode::from_u16(status).expect("responders answer valid statuses");
    (code, receiver_answer(status))
}

/// Lowercase hex HMAC-SHA256 of `parts` with the secret's UTF-8 bytes as the key.
pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// What the Node.js verifier checks: the secret, the raw body and the signature header.
#[derive(Debug, Clone)]
pub struct SignedBody {
    pub secret: String,
    pub body: Vec<u8>,
    pub signature: String,
}

impl SignedBody {
    pub fn of(received: &Received, secret: &str) -> SignedBody {
        SignedBody {
            secret: secret.to_owned(),
            body: received.body.to_vec(),
            signature: received.header("x-socialscalr-signature").to_owned(),
        }
    }
}

pub struct NodeVerdict {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tests/verifiers/verify-signature.js` on the bodies with Node.js.
pub async fn verify_with_node(bodies: &[SignedBody]) -> NodeVerdict {
    use tokio::io::AsyncWriteExt as _;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("verifiers/verify-signature.js");
    let input: Vec<Value> = bodies
        .iter()
        .map(|signed| {
            json!({
                "secret": signed.secret,
                "body_base64": base64::engine::general_purpose::STANDARD.encode(&signed.body),
                "signature": signed.signature,
            })
        })
        .collect();
    let spawned = tokio::process::Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "`node` is not on PATH: install Node.js to run the signature verifier \
             (the project's test script installs it)"
        ),
        Err(error) => panic!("running `node {}`: {error}", script.display()),
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = serde_json::to_vec(&input).expect("the verifier's input serializes");
    stdin
        .write_all(&input)
        .await
        .expect("writing the verifier's input");
    drop(stdin);
    let output = child
        .wait_with_output()
        .await
        .expect("waiting for the verifier");
    NodeVerdict {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
