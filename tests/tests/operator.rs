//! The operator against a real Kubernetes API server (etcd and kube-apiserver on
//! 127.0.0.1, shared by the tests of this file), with the real api-server and dispatcher
//! binaries on the same SQLite store. Each test works in a namespace of its own, with its
//! own store and operator processes watching only that namespace.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use socialscalr_core::store::Store;
use socialscalr_operator::resources::{ApiToken, WebhookEndpoint, Workspace};
use socialscalr_tests::testkube::{Cluster, User, free_port, tools_dir};
use support::{Receiver, hmac_hex};
use tempfile::TempDir;

const OPERATOR: &str = "socialscalr-operator";
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            let tools = tools_dir()?;
            Some(Cluster::start(&tools, &[User::new(OPERATOR)], &[OPERATOR]))
        })
        .as_ref()
}

/// A binary of this workspace, next to the test's target directory.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own executable");
    let debug_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/debug/deps");
    let bin = debug_dir.join(name);
    assert!(
        bin.is_file(),
        "{} does not exist: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
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

/// A process of the stack, killed when dropped.
struct Process {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

struct Operator {
    process: Process,
    metrics: String,
}

impl Operator {
    async fn metrics(&self) -> Option<String> {
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .ok()?
            .get(format!("{}/metrics", self.metrics))
            .send()
            .await
            .ok()?;
        response.text().await.ok()
    }

    /// The value of the first sample of `name` whose labels contain `labels`, summed over
    /// the samples that match.
    async fn sample(&self, name: &str, labels: &str) -> f64 {
        let text = self.metrics().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn leading(&self) -> bool {
        self.sample("socialscalr_operator_leader", "").await == 1.0
    }

    async fn reconciles(&self) -> f64 {
        self.sample("socialscalr_operator_reconciles_total", "")
            .await
    }

    async fn health(&self) -> u16 {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        match client.get(format!("{}/healthz", self.metrics)).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    fn kill(&mut self) {
        self.process
            .child
            .start_kill()
            .expect("killing the operator");
    }
}

/// One test's namespace, store, operators and servers.
struct Stack {
    cluster: &'static Cluster,
    namespace: String,
    dir: TempDir,
    database_url: String,
    secret_key: String,
    store: Arc<dyn Store>,
    client: kube::Client,
}

impl Stack {
    async fn new(cluster: &'static Cluster, prefix: &str) -> Stack {
        let namespace = format!("{prefix}-{}", free_port());
        cluster.kubectl_ok(&["create", "namespace", &namespace]);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database_url = format!("sqlite://{}/store.db", dir.path().display());
        // Opening the store here migrates it once, before any process shares it.
        let store = socialscalr_core::store::open(&database_url)
            .await
            .expect("opening the store");
        Stack {
            cluster,
            namespace,
            dir,
            database_url,
            secret_key: socialscalr_core::crypto::SecretBox::generate_key(),
            store,
            client: cluster.client("admin").await,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn spawn(
        &self,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> Process {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("SOCIALSCALR_SECRET_KEY", &self.secret_key)
            .env("SOCIALSCALR_ALLOW_LOOPBACK_TARGETS", "1")
            .env("SOCIALSCALR_LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log file"))
            .stderr(file)
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Process { child, log }
    }

    async fn start_operator(&self, name: &str) -> Operator {
        let port = free_port();
        let kubeconfig = self.cluster.kubeconfig(OPERATOR).display().to_string();
        let env = [
            ("METRICS_ADDR", format!("127.0.0.1:{port}")),
            ("WATCH_NAMESPACE", self.namespace.clone()),
            ("POD_NAMESPACE", self.namespace.clone()),
            ("POD_NAME", name.to_owned()),
            ("SOCIALSCALR_OPERATOR_LEASE_SECONDS", "4".to_owned()),
            ("SOCIALSCALR_OPERATOR_HEALTH_INTERVAL", "1s".to_owned()),
            ("SOCIALSCALR_OPERATOR_RESYNC", "5s".to_owned()),
            ("SOCIALSCALR_TOKEN_ROTATION_GRACE", "1h".to_owned()),
        ];
        let process = self.spawn(
            name,
            &bin("socialscalr-operator"),
            &[format!("--kubeconfig={kubeconfig}")],
            &env,
        );
        let operator = Operator {
            process,
            metrics: format!("http://127.0.0.1:{port}"),
        };
        eventually(&format!("operator {name} serving metrics"), || async {
            operator.metrics().await.map(|_| ())
        })
        .await;
        operator
    }

    /// The api-server on the same store; answers its base URL.
    async fn start_api_server(&self) -> (Process, String) {
        let port = free_port();
        let env = [("LISTEN_ADDR", format!("127.0.0.1:{port}"))];
        let process = self.spawn("api-server", &bin("socialscalr-api-server"), &[], &env);
        let base = format!("http://127.0.0.1:{port}/api/v1");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        eventually("the api-server listening", || async {
            client
                .get(format!("{base}/openapi.json"))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        (process, base)
    }

    fn start_dispatcher(&self) -> Process {
        let env = [("SOCIALSCALR_RETRY_SCHEDULE", "1s,2s,3s".to_owned())];
        self.spawn("dispatcher", &bin("socialscalr-dispatcher"), &[], &env)
    }

    fn apply(&self, yaml: &str) -> Result<String, String> {
        let output = self.cluster.kubectl_with_input(
            "admin",
            &["apply", "-n", &self.namespace, "-f", "-"],
            Some(yaml),
        );
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.namespace];
        all.extend_from_slice(args);
        self.cluster.kubectl_ok(&all)
    }

    /// The token in an ApiToken's Secret, read the way the README shows.
    fn token_of(&self, api_token: &str) -> String {
        let encoded = self.kubectl(&[
            "get",
            "secret",
            &format!("{api_token}-api-token"),
            "-o",
            "jsonpath={.data.token}",
        ]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .expect("base64 in the Secret");
        String::from_utf8(bytes).expect("a UTF-8 token")
    }
}

/// The `Ready` condition's status and reason of a resource's status JSON.
fn ready_of(status: Option<&Value>) -> Option<(String, String)> {
    let conditions = status?.get("conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    Some((
        ready["status"].as_str()?.to_owned(),
        ready["reason"].as_str()?.to_owned(),
    ))
}

async fn wait_ready<K>(api: &Api<K>, name: &str) -> K
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_condition(api, name, "True", None).await
}

async fn wait_condition<K>(api: &Api<K>, name: &str, status: &str, reason: Option<&str>) -> K
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let what = format!("{name} Ready={status} {reason:?}");
    eventually(&what, || async {
        let object = api.get_opt(name).await.ok()??;
        let json = serde_json::to_value(&object).ok()?;
        let (found, found_reason) = ready_of(json.get("status"))?;
        let matches = found == status && reason.is_none_or(|r| r == found_reason);
        matches.then_some(object)
    })
    .await
}

async fn status_of(base: &str, token: &str) -> u16 {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .get(format!("{base}/workspace"))
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn examples() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/operator");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/operator")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("an example"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// A resource of ours as JSON, which `kubectl apply` takes as it takes YAML.
fn resource(kind: &str, name: &str, spec: Value) -> String {
    json!({
        "apiVersion": "socialscalr.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    })
    .to_string()
}

/// Several objects in one `kubectl apply`.
fn list(items: Vec<Value>) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn object(kind: &str, name: &str, spec: Value) -> Value {
    serde_json::from_str(&resource(kind, name, spec)).expect("JSON")
}

fn owner_uid<K: Resource>(object: &K) -> String {
    object.meta().uid.clone().expect("a uid")
}

fn owned_by(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

#[tokio::test]
async fn invalid_specs_are_refused_when_applied() {
    let Some(cluster) = cluster() else { return };
    let stack = Stack::new(cluster, "invalid").await;
    let workspace = |spec: Value| resource("Workspace", "w", spec);
    let endpoint = |spec: Value| resource("WebhookEndpoint", "e", spec);
    let token = |spec: Value| resource("ApiToken", "t", spec);
    let refused = [
        (
            workspace(json!({"displayName": "A", "plan": "gold"})),
            "Unsupported value: \"gold\"",
        ),
        (
            workspace(json!({"displayName": "A", "plan": "pro", "seats": 3})),
            "seats are only for the agency plan",
        ),
        (
            workspace(json!({"displayName": "A", "plan": "agency", "seats": 0})),
            "should be greater than or equal to 1",
        ),
        (
            workspace(json!({"displayName": "A", "plan": "pro",
                "members": [{"email": "not-an-email"}]})),
            "spec.members[0].email",
        ),
        (
            workspace(json!({"displayName": "A", "plan": "pro",
                "members": [{"email": "a@b.example"}, {"email": "a@b.example"}]})),
            "Duplicate value",
        ),
        (
            workspace(json!({"plan": "pro"})),
            "spec.displayName: Required value",
        ),
        (
            endpoint(
                json!({"workspaceRef": "w", "url": "http://hooks.example.com/in",
                "events": ["lead.replied"]}),
            ),
            "must be an https URL",
        ),
        (
            endpoint(
                json!({"workspaceRef": "w", "url": "https://hooks.example.com/in",
                "events": ["lead.sent"]}),
            ),
            "Unsupported value: \"lead.sent\"",
        ),
        (
            token(json!({"workspaceRef": "w", "scopes": ["leads:delete"]})),
            "scopes are admin or <family>:read|write",
        ),
        (
            token(json!({"workspaceRef": "w", "expiresAt": "tomorrow"})),
            "spec.expiresAt",
        ),
    ];
    for (document, expected) in &refused {
        let error = stack
            .apply(document)
            .expect_err(&format!("refused: {document}"));
        assert!(
            error.contains(expected),
            "expected `{expected}` in: {error}"
        );
    }

    // Transition rules: a token's rotation generation only goes up, its scopes stay.
    stack
        .apply(&token(
            json!({"workspaceRef": "w", "rotationGeneration": 2}),
        ))
        .expect("a valid token");
    let lower = token(json!({"workspaceRef": "w", "rotationGeneration": 1}));
    let error = stack.apply(&lower).expect_err("going down is refused");
    assert!(error.contains("rotationGeneration only goes up"), "{error}");
    let rescoped = token(json!({"workspaceRef": "w", "rotationGeneration": 2,
        "scopes": ["admin"]}));
    let error = stack
        .apply(&rescoped)
        .expect_err("changing scopes is refused");
    assert!(error.contains("fixed once issued"), "{error}");
    let loopback = endpoint(
        json!({"workspaceRef": "w", "url": "http://127.0.0.1:9000/in",
        "events": ["lead.replied"]}),
    );
    stack
        .apply(&loopback)
        .expect("plain http to loopback is for tests");

    // The printer columns make `kubectl get` useful.
    let table = stack.kubectl(&["get", "apitokens"]);
    for column in ["WORKSPACE", "SEAT", "PREFIX", "READY", "REASON", "EXPIRES"] {
        assert!(table.contains(column), "{column} in {table}");
    }
}

#[tokio::test]
async fn the_examples_become_workspaces_tokens_and_endpoints_that_work() {
    let Some(cluster) = cluster() else { return };
    let stack = Stack::new(cluster, "examples").await;
    let operator = stack.start_operator("operator-a").await;
    let (_api_server, base) = stack.start_api_server().await;
    stack.apply(&examples()).expect("the examples apply");

    let workspaces: Api<Workspace> = stack.api();
    let tokens: Api<ApiToken> = stack.api();
    let endpoints: Api<WebhookEndpoint> = stack.api();
    let secrets: Api<Secret> = stack.api();
    let config_maps: Api<ConfigMap> = stack.api();
    for name in ["acme-agency", "client-northwind", "client-globex"] {
        let workspace = wait_ready(&workspaces, name).await;
        let status = workspace.status.clone().expect("a status");
        let id = status.workspace_id.expect("a workspace id");
        let stored = stack
            .store
            .find_workspace(&id)
            .await
            .unwrap()
            .expect("in the store");
        assert_eq!(stored.name, name);
        assert_eq!(status.observed_generation, workspace.metadata.generation);
        let limits = config_maps
            .get(&format!("{name}-rate-limits"))
            .await
            .unwrap();
        assert!(
            owned_by(&limits.metadata, &owner_uid(&workspace)),
            "{name}'s ConfigMap"
        );
    }
    let agency = workspaces.get("acme-agency").await.unwrap();
    let limits = config_maps.get("acme-agency-rate-limits").await.unwrap();
    let data = limits.data.expect("data");
    assert_eq!(data["requestsPerMinute"], "1200");
    assert_eq!(data["webhookEventsPerMinute"], "100");
    let admin = secrets.get("acme-agency-admin-token").await.unwrap();
    assert!(owned_by(&admin.metadata, &owner_uid(&agency)));
    let members = stack
        .store
        .list_members(
            agency
                .status
                .as_ref()
                .unwrap()
                .workspace_id
                .as_ref()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(members.len(), 2);

    for name in [
        "acme-seat-ana",
        "acme-seat-ben",
        "northwind-crm",
        "globex-crm",
    ] {
        let token = wait_ready(&tokens, name).await;
        let secret = secrets.get(&format!("{name}-api-token")).await.unwrap();
        assert!(
            owned_by(&secret.metadata, &owner_uid(&token)),
            "{name}'s Secret"
        );
        assert_eq!(
            status_of(&base, &stack.token_of(name)).await,
            200,
            "{name} authenticates"
        );
    }
    for name in ["acme-billing", "northwind-replies", "globex-replies"] {
        let endpoint = wait_ready(&endpoints, name).await;
        let secret = secrets
            .get(&format!("{name}-webhook-secret"))
            .await
            .unwrap();
        assert!(
            owned_by(&secret.metadata, &owner_uid(&endpoint)),
            "{name}'s Secret"
        );
    }
    // What the resources declare is not changed over the REST API: the answer names the
    // resource to change instead.
    let admin = String::from_utf8(admin.data.unwrap()["token"].0.clone()).unwrap();
    let api = support::Api::new(&base, &admin);
    let ana = tokens.get("acme-seat-ana").await.unwrap().status.unwrap();
    let refused = api
        .delete(&format!("/tokens/{}", ana.token_id.unwrap()))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let message = refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let expected = format!("ApiToken {}/acme-seat-ana", stack.namespace);
    assert!(message.contains(&expected), "{message}");
    let billing = endpoints.get("acme-billing").await.unwrap().status.unwrap();
    let refused = api
        .delete(&format!("/webhooks/{}", billing.endpoint_id.unwrap()))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("WebhookEndpoint"),
        "{}",
        refused.body
    );

    let globex = secrets.get("globex-replies-webhook-secret").await.unwrap();
    let own = globex.data.unwrap()["secret"].0.clone();
    assert_eq!(own, b"whsec_globex_example_change_me_0123456789");
    let table = stack.kubectl(&["get", "workspaces"]);
    assert!(table.contains("acme-agency") && table.contains("agency") && table.contains("True"));

    // Settled: reconciles go on at the resync interval but write nothing.
    let listed = |kind: &'static str| {
        let stack = &stack;
        async move {
            stack.kubectl(&[
                "get",
                kind,
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
            ])
        }
    };
    let kinds = [
        "workspaces",
        "apitokens",
        "webhookendpoints",
        "secrets",
        "configmaps",
    ];
    let mut before = Vec::new();
    for kind in kinds {
        before.push(listed(kind).await);
    }
    let reconciles = operator.reconciles().await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(operator.reconciles().await > reconciles, "resyncs happened");
    for (kind, before) in kinds.iter().zip(before) {
        assert_eq!(
            listed(kind).await,
            before,
            "no {kind} changed in the steady state"
        );
    }

    // A deleted ApiToken's token stops working.
    let ben = stack.token_of("acme-seat-ben");
    tokens
        .delete("acme-seat-ben", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted token refused", || async {
        (status_of(&base, &ben).await == 401).then_some(())
    })
    .await;
    assert_eq!(
        status_of(&base, &stack.token_of("acme-seat-ana")).await,
        200
    );

    // Deleting a Workspace cancels it in the store, which stops its tokens; the finalizer
    // lets the resource go.
    let north = stack.token_of("northwind-crm");
    workspaces
        .delete("client-northwind", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the workspace resource gone", || async {
        workspaces
            .get_opt("client-northwind")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(status_of(&base, &north).await, 403);
    let row = stack
        .store
        .find_workspace("client-northwind")
        .await
        .unwrap()
        .unwrap();
    assert!(row.cancelled_at.is_some());
    wait_condition(&tokens, "northwind-crm", "False", Some("WorkspaceNotFound")).await;
    assert_eq!(operator.health().await, 200);
}

#[tokio::test]
async fn endpoints_receive_deliveries_signed_with_the_secret_in_their_secret() {
    let Some(cluster) = cluster() else { return };
    let stack = Stack::new(cluster, "deliveries").await;
    let _operator = stack.start_operator("operator-a").await;
    let _dispatcher = stack.start_dispatcher();
    let receiver = Receiver::start().await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mine"},
        "stringData": {"secret": "whsec_my_own_secret_for_tests"}});
    let yaml = list(vec![
        object(
            "Workspace",
            "team",
            json!({"displayName": "Team", "plan": "agency"}),
        ),
        object(
            "WebhookEndpoint",
            "generated",
            json!({"workspaceRef": "team", "url": receiver.url("/generated"),
                "events": ["team.member_added"]}),
        ),
        secret,
        object(
            "WebhookEndpoint",
            "own",
            json!({"workspaceRef": "team", "url": receiver.url("/own"),
                "events": ["team.member_added"], "secretRef": "mine"}),
        ),
    ]);
    stack.apply(&yaml).expect("applies");
    let endpoints: Api<WebhookEndpoint> = stack.api();
    let secrets: Api<Secret> = stack.api();
    wait_ready(&endpoints, "generated").await;
    wait_ready(&endpoints, "own").await;

    // A member added to the resource is a team.member_added, delivered to both.
    let workspaces: Api<Workspace> = stack.api();
    let patch = json!({"spec": {"members": [{"email": "new@team.example", "role": "admin"}]}});
    workspaces
        .patch("team", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    for (name, path) in [("generated", "/generated"), ("own", "/own")] {
        let received = eventually(&format!("a delivery to {path}"), || async {
            receiver.received().into_iter().find(|r| r.path == path)
        })
        .await;
        let secret = secrets
            .get(&format!("{name}-webhook-secret"))
            .await
            .unwrap();
        let secret = String::from_utf8(secret.data.unwrap()["secret"].0.clone()).unwrap();
        let expected = format!("sha256={}", hmac_hex(&secret, &[&received.body]));
        assert_eq!(
            received.header("x-socialscalr-signature"),
            expected,
            "{name}"
        );
        let body: Value = serde_json::from_slice(&received.body).unwrap();
        assert_eq!(body["event"], "team.member_added");
        assert_eq!(body["data"]["member"]["email"], "new@team.example");
    }
    let own = secrets.get("own-webhook-secret").await.unwrap();
    assert_eq!(
        own.data.unwrap()["secret"].0,
        b"whsec_my_own_secret_for_tests"
    );

    // The status shows the delivery health, refreshed from the delivery log.
    eventually("the endpoint's health in its status", || async {
        let endpoint = endpoints.get("generated").await.ok()?;
        let health = endpoint.status?.health?;
        (health.last_success_at.is_some() && health.consecutive_failures == 0).then_some(())
    })
    .await;

    // Deleting the resource deletes the store's endpoint.
    let id = endpoints
        .get("own")
        .await
        .unwrap()
        .status
        .unwrap()
        .endpoint_id
        .unwrap();
    endpoints
        .delete("own", &DeleteParams::default())
        .await
        .unwrap();
    let workspace_id = workspaces
        .get("team")
        .await
        .unwrap()
        .status
        .unwrap()
        .workspace_id
        .unwrap();
    eventually("the endpoint deleted from the store", || async {
        stack
            .store
            .get_endpoint(&workspace_id, &id)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_token_for_a_missing_workspace_waits_and_is_issued_once_it_exists() {
    let Some(cluster) = cluster() else { return };
    let stack = Stack::new(cluster, "missing").await;
    let operator = stack.start_operator("operator-a").await;
    let tokens: Api<ApiToken> = stack.api();
    let token: ApiToken = serde_json::from_value(json!({
        "apiVersion": "socialscalr.com/v1alpha1", "kind": "ApiToken",
        "metadata": {"name": "early"},
        "spec": {"workspaceRef": "later", "scopes": ["leads:read"]}
    }))
    .unwrap();
    tokens.create(&PostParams::default(), &token).await.unwrap();
    let waiting = wait_condition(&tokens, "early", "False", Some("WorkspaceNotFound")).await;
    let message = serde_json::to_value(waiting.status).unwrap()["conditions"][0]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("no Workspace named later"),
        "{message}"
    );
    assert_eq!(
        operator.health().await,
        200,
        "a missing workspace is no crash"
    );
    assert_eq!(
        operator
            .sample("socialscalr_operator_reconcile_errors_total", "ApiToken")
            .await,
        0.0,
        "a missing workspace is a status, not an error"
    );

    stack
        .apply(&resource(
            "Workspace",
            "later",
            json!({"displayName": "Later", "plan": "starter"}),
        ))
        .unwrap();
    // The Workspace's watch wakes the token at once, well before its retry interval.
    let started = Instant::now();
    wait_ready(&tokens, "early").await;
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_restarted_operator_changes_no_token_and_rotation_keeps_the_old_one_for_the_grace() {
    let Some(cluster) = cluster() else { return };
    let stack = Stack::new(cluster, "restart").await;
    let mut operator = stack.start_operator("operator-a").await;
    let (_api_server, base) = stack.start_api_server().await;
    stack
        .apply(&list(vec![
            object("Workspace", "w", json!({"displayName": "W", "plan": "pro"})),
            object("ApiToken", "ci", json!({"workspaceRef": "w"})),
        ]))
        .unwrap();
    let tokens: Api<ApiToken> = stack.api();
    let secrets: Api<Secret> = stack.api();
    let before = wait_ready(&tokens, "ci").await;
    let token = stack.token_of("ci");
    let secret_version = secrets
        .get("ci-api-token")
        .await
        .unwrap()
        .resource_version();

    // Killed mid-way and started again: the same token, the same Secret, the same row.
    operator.kill();
    let _ = operator.process.child.wait().await;
    let operator = stack.start_operator("operator-b").await;
    eventually("the new operator reconciling", || async {
        (operator.reconciles().await >= 2.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.token_of("ci"), token);
    assert_eq!(
        secrets
            .get("ci-api-token")
            .await
            .unwrap()
            .resource_version(),
        secret_version
    );
    let after = tokens.get("ci").await.unwrap();
    assert_eq!(
        after.status.as_ref().unwrap().token_id,
        before.status.as_ref().unwrap().token_id
    );
    assert_eq!(status_of(&base, &token).await, 200);

    // A higher rotation generation issues a new token; the old one works for the grace.
    let patch = json!({"spec": {"rotationGeneration": 1}});
    tokens
        .patch("ci", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let rotated = eventually("a new token in the Secret", || async {
        let now = stack.token_of("ci");
        (now != token).then_some(now)
    })
    .await;
    eventually("the rotated token accepted", || async {
        (status_of(&base, &rotated).await == 200).then_some(())
    })
    .await;
    assert_eq!(
        status_of(&base, &token).await,
        200,
        "the old token is in its grace period"
    );
    let stored = stack
        .store
        .token_by_public_id(socialscalr_core::token::parse(&token).unwrap().public_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.replaced_by.is_some() && stored.expires_at.is_some());

    // Deleting the resource revokes both.
    tokens.delete("ci", &DeleteParams::default()).await.unwrap();
    eventually("both tokens refused", || async {
        let old = status_of(&base, &token).await;
        let new = status_of(&base, &rotated).await;
        (old == 401 && new == 401).then_some(())
    })
    .await;
    drop(operator);
}

#[tokio::test]
async fn two_replicas_never_both_reconcile_and_the_standby_takes_over() {
    let Some(cluster) = cluster() else { return };
    let stack = Stack::new(cluster, "replicas").await;
    let first = stack.start_operator("replica-1").await;
    let second = stack.start_operator("replica-2").await;
    let mut replicas = [first, second];
    let leader = eventually("one leader", || async {
        let leading = [replicas[0].leading().await, replicas[1].leading().await];
        match leading {
            [true, false] => Some(0),
            [false, true] => Some(1),
            _ => None,
        }
    })
    .await;
    let standby = 1 - leader;

    stack
        .apply(&resource(
            "Workspace",
            "one",
            json!({"displayName": "One", "plan": "pro"}),
        ))
        .unwrap();
    let workspaces: Api<Workspace> = stack.api();
    wait_ready(&workspaces, "one").await;
    assert!(replicas[leader].reconciles().await > 0.0);
    assert_eq!(
        replicas[standby].reconciles().await,
        0.0,
        "the standby reconciles nothing"
    );
    assert!(!replicas[standby].leading().await);
    assert_eq!(
        replicas[standby].health().await,
        200,
        "standing by is healthy"
    );

    // The leader dies without releasing the lease; the standby takes over once it lapses.
    replicas[leader].kill();
    let _ = replicas[leader].process.child.wait().await;
    eventually("the standby leading", || async {
        replicas[standby].leading().await.then_some(())
    })
    .await;
    stack
        .apply(&resource(
            "Workspace",
            "two",
            json!({"displayName": "Two", "plan": "pro"}),
        ))
        .unwrap();
    wait_ready(&workspaces, "two").await;
    assert!(replicas[standby].reconciles().await > 0.0);
    let log = replicas[standby].process.log();
    assert!(log.contains("Leading"), "{log}");
}
