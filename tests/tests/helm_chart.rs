//! The Helm chart, checked with a real `helm` and a real kube-apiserver: it lints, its
//! schema refuses wrong values, every object it renders passes the API server's own
//! validation (a server-side dry run), and a real install grants the operator exactly what
//! it needs: the operator, run out of cluster with its ServiceAccount's token and the
//! environment of the chart's Deployment, reconciles the resources that NOTES.txt and
//! `examples/` declare, the API server, run with its Deployment's environment, answers the
//! token NOTES.txt tells the user to read, and every role's probes answer on the ports
//! they name.
//!
//! No kubelet runs, so the test plays its part where a step needs a pod: it runs the
//! migration Job's command itself and reports the Job complete, and it runs the operator
//! and the API server as local processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use socialscalr_tests::testkube::{self, ADMIN, Cluster};
use tempfile::TempDir;

const RELEASE: &str = "ci";
const NAMESPACE: &str = "platform";
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .to_path_buf()
}

fn chart_dir() -> PathBuf {
    repo_root().join("charts/socialscalr")
}

fn production_values() -> PathBuf {
    chart_dir().join("ci/production-values.yaml")
}

/// The helm binary `scripts/kube-tools` built, beside kube-apiserver and etcd. `None`
/// skips the test, unless `SOCIALSCALR_REQUIRE_SERVICES=1`, where it fails.
fn helm_bin() -> Option<PathBuf> {
    let dir = testkube::tools_dir()?;
    let helm = dir.join("helm");
    if helm.is_file() {
        return Some(helm);
    }
    let why = format!("no helm in {}; run scripts/kube-tools", dir.display());
    if std::env::var(testkube::REQUIRE_SERVICES).as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// helm with its own configuration, cache and data directories, and no kubeconfig but
/// the one given: it never reads the machine's.
struct Helm {
    bin: PathBuf,
    home: TempDir,
}

impl Helm {
    fn new() -> Option<Helm> {
        let bin = helm_bin()?;
        let home = tempfile::Builder::new()
            .prefix("socialscalr-helm-")
            .tempdir()
            .expect("a temporary directory");
        Some(Helm { bin, home })
    }

    fn command(&self, kubeconfig: Option<&Path>) -> Command {
        let home = self.home.path();
        let mut command = Command::new(&self.bin);
        command
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env(
                "KUBECONFIG",
                kubeconfig.map_or_else(|| home.join("no-cluster"), Path::to_path_buf),
            )
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(None)
            .args(args)
            .output()
            .expect("running helm")
    }

    /// `helm template` of the chart as release `release` in `namespace`, CRDs included.
    fn template(&self, release: &str, namespace: &str, values: &[&str]) -> String {
        let chart = chart_dir().display().to_string();
        let mut args = vec![
            "template",
            release,
            &chart,
            "--namespace",
            namespace,
            "--include-crds",
        ];
        args.extend_from_slice(values);
        let output = self.run(&args);
        assert!(
            output.status.success(),
            "helm template {values:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("helm prints UTF-8")
    }
}

/// One API server for the whole test binary, with the CRDs of the chart's optional kinds.
fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            let tools = testkube::tools_dir()?;
            let cluster = Cluster::start(&tools, &[], &[]);
            let fixtures = repo_root().join("tests/fixtures/monitoring-crds.yaml");
            cluster.kubectl_ok(&["apply", "-f", &fixtures.display().to_string()]);
            cluster.kubectl_ok(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/servicemonitors.monitoring.coreos.com",
                "crd/scaledobjects.keda.sh",
            ]);
            Some(cluster)
        })
        .as_ref()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls `check` until it yields a value, failing with `what` after [`DEADLINE`].
fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    eventually_or(what, String::new, check)
}

/// [`eventually`], with `context()` (a log, say) in the failure message.
fn eventually_or<T>(
    what: &str,
    context: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(POLL);
    }
}

#[test]
fn the_chart_ships_the_crds_the_operator_generates() {
    for file in ["workspaces.yaml", "apitokens.yaml", "webhookendpoints.yaml"] {
        let generated = std::fs::read_to_string(repo_root().join("crds").join(file))
            .expect("reading a generated CRD");
        let shipped = std::fs::read_to_string(chart_dir().join("crds").join(file))
            .expect("reading the chart's CRD");
        assert!(
            generated == shipped,
            "charts/socialscalr/crds/{file} differs from crds/{file}; copy it over"
        );
    }
    let shipped = std::fs::read_dir(chart_dir().join("crds"))
        .expect("listing the chart's CRDs")
        .count();
    assert_eq!(shipped, 3, "the chart ships a CRD that crds/ does not have");
}

#[test]
fn helm_lint_passes_with_every_values_file_the_docs_name() {
    let Some(helm) = Helm::new() else { return };
    let chart = chart_dir().display().to_string();
    let production = production_values().display().to_string();
    let kind = chart_dir()
        .join("ci/kind-values.yaml")
        .display()
        .to_string();
    for values in [
        vec![],
        vec!["--values", &production],
        vec!["--values", &kind],
    ] {
        let mut args = vec!["lint", "--strict", &chart];
        args.extend_from_slice(&values);
        let output = helm.run(&args);
        assert!(
            output.status.success(),
            "helm lint {values:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
    }
}

#[test]
fn wrong_values_are_refused_with_a_message_naming_them() {
    let Some(helm) = Helm::new() else { return };
    let chart = chart_dir().display().to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--set-string", "apiServer.replicas=two"],
            "/apiServer/replicas': got string, want integer",
        ),
        (
            &["--set", "dispatcher.autoscaling.mode=cpu"],
            "/dispatcher/autoscaling/mode': value must be one of 'none', \
             'prometheus-adapter', 'keda'",
        ),
        (
            &["--set", "bundled.postgresql.enabled=false"],
            "/database/existingSecret': minLength",
        ),
        (
            &["--set", "apiServer.replicaCount=3"],
            "additional properties 'replicaCount' not allowed",
        ),
        (
            &["--set", "dispatcher.autoscaling.mode=keda"],
            "/dispatcher/autoscaling/keda/serverAddress'",
        ),
        (
            &["--set", "logFormat=yaml"],
            "/logFormat': value must be one of 'json', 'text'",
        ),
    ];
    for (values, message) in cases {
        let mut args = vec!["template", "wrong", &chart];
        args.extend_from_slice(values);
        let output = helm.run(&args);
        let error = stderr(&output);
        assert!(!output.status.success(), "helm accepted {values:?}");
        assert!(
            error.contains(message),
            "helm refused {values:?} without naming the value ({message}):\n{error}"
        );
    }

    // What the schema cannot compare, the templates check.
    let output = helm.run(&[
        "template",
        "wrong",
        &chart,
        "--set",
        "apiServer.autoscaling.minReplicas=5,apiServer.autoscaling.maxReplicas=3",
    ]);
    assert!(
        !output.status.success(),
        "helm accepted minReplicas > maxReplicas"
    );
    assert!(
        stderr(&output).contains("apiServer.autoscaling: minReplicas is above maxReplicas"),
        "{}",
        stderr(&output)
    );
}

/// Every rendering the tests validate, by name: the defaults (bundled PostgreSQL and
/// Redis), the production-like file (existing Secrets, a Prometheus adapter HPA,
/// ServiceMonitor, dashboard, NetworkPolicies), the kind walk-through's file, KEDA, and
/// one namespace watched.
fn renderings(helm: &Helm, release: &str, namespace: &str) -> Vec<(&'static str, String)> {
    let production = production_values().display().to_string();
    let kind = chart_dir()
        .join("ci/kind-values.yaml")
        .display()
        .to_string();
    vec![
        ("default values", helm.template(release, namespace, &[])),
        (
            "production values",
            helm.template(release, namespace, &["--values", &production]),
        ),
        (
            "kind values",
            helm.template(release, namespace, &["--values", &kind]),
        ),
        (
            "KEDA, persistence and NetworkPolicies",
            helm.template(
                release,
                namespace,
                &[
                    "--set",
                    "dispatcher.autoscaling.mode=keda",
                    "--set",
                    "dispatcher.autoscaling.keda.serverAddress=http://prometheus.monitoring:9090",
                    "--set",
                    "bundled.postgresql.persistence.enabled=true",
                    "--set",
                    "networkPolicy.enabled=true",
                    "--set",
                    "metrics.serviceMonitor.enabled=true",
                ],
            ),
        ),
        (
            "one watched namespace, no autoscaling",
            helm.template(
                release,
                namespace,
                &[
                    "--set",
                    "operator.watchNamespace=tenants",
                    "--set",
                    "apiServer.autoscaling.enabled=false",
                    "--set",
                    "migration.enabled=false",
                ],
            ),
        ),
    ]
}

#[test]
fn every_rendering_passes_the_api_servers_validation_and_the_restricted_pod_security() {
    let Some(helm) = Helm::new() else { return };
    let Some(cluster) = cluster() else { return };
    let namespace = "preview";
    // Pod Security admission reports every pod template that the `restricted` profile
    // would refuse as a warning on the workload; the test treats each as a failure.
    cluster.kubectl_ok(&["create", "namespace", namespace]);
    cluster.kubectl_ok(&["create", "namespace", "tenants"]);
    cluster.kubectl_ok(&[
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/warn=restricted",
        "pod-security.kubernetes.io/warn-version=latest",
    ]);

    for (name, manifest) in renderings(&helm, "preview", namespace) {
        let output = cluster.kubectl_with_input(
            ADMIN,
            &[
                "apply",
                "--dry-run=server",
                "--validate=strict",
                "--warnings-as-errors",
                "-f",
                "-",
            ],
            Some(&manifest),
        );
        assert!(
            output.status.success(),
            "the API server refused the rendering with {name}:\n{}",
            stderr(&output)
        );
        let applied = String::from_utf8_lossy(&output.stdout);
        let objects =
            manifest.matches("\nkind: ").count() + usize::from(manifest.starts_with("kind: "));
        assert_eq!(
            applied.lines().count(),
            objects,
            "not every object of the rendering with {name} was validated:\n{applied}"
        );
    }
}

/// A JSON object read from the API server as the admin.
fn get_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&cluster.kubectl_ok(&all)).expect("kubectl prints JSON")
}

fn secret_value(cluster: &Cluster, namespace: &str, name: &str, key: &str) -> String {
    let secret = get_json(cluster, &["secret", name, "-n", namespace]);
    let encoded = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("Secret {namespace}/{name} has no key {key}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("Secret data is base64");
    String::from_utf8(bytes).expect("a UTF-8 Secret value")
}

/// `<target>/debug/<name>`, beside this test's executable in `<target>/debug/deps`.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own executable");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/debug/deps")
        .join(name);
    assert!(
        bin.is_file(),
        "{} does not exist: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

/// The command a container of `pod_spec` runs, as a local process: the image's binary
/// from this build, its arguments, and exactly the environment the chart gives it, with
/// Secret references read from the API server. `overrides` replace or add variables
/// that must differ outside a pod (listen addresses, the kubeconfig).
fn container_command(
    cluster: &Cluster,
    namespace: &str,
    pod_name: &str,
    pod_spec: &Value,
    overrides: &[(&str, String)],
) -> Command {
    let container = &pod_spec["containers"][0];
    let argv: Vec<&str> = container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten())
        .map(|arg| arg.as_str().expect("a string argument"))
        .collect();
    let (program, args) = argv.split_first().expect("the container names its command");
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().expect("a variable name").to_owned();
        let value = if let Some(value) = var["value"].as_str() {
            value.to_owned()
        } else if let Some(secret) = var["valueFrom"]["secretKeyRef"].as_object() {
            let secret_name = secret["name"].as_str().expect("a Secret name");
            let key = secret["key"].as_str().expect("a Secret key");
            secret_value(cluster, namespace, secret_name, key)
        } else {
            match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => pod_name.to_owned(),
                Some("metadata.namespace") => namespace.to_owned(),
                _ => panic!("the test cannot provide {var}"),
            }
        };
        env.insert(name, value);
    }
    for (name, value) in overrides {
        env.insert((*name).to_owned(), value.clone());
    }
    let mut command = Command::new(binary(program));
    command
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null());
    command
}

/// A local process standing in for a pod; killed when dropped.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, mut command: Command, dir: &Path) -> Process {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("creating a log file");
        let child = command
            .stdout(file.try_clone().expect("duplicating a file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {name}: {e}"));
        Process { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Reads the log when called, for failure messages, without borrowing the process.
    fn log_reader(&self) -> impl Fn() -> String + use<> {
        let path = self.log.clone();
        let name = self.name;
        move || {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            format!("--- {name} log\n{log}")
        }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the {} exited with {status}:\n{}", self.name, self.log());
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> String {
    format!("127.0.0.1:{}", testkube::free_port())
}

/// Plays the kubelet for the migration hook: waits for helm to create the Job, runs its
/// container's command here, and reports the outcome in the Job's status, which is what
/// helm waits for before it goes on with the install.
fn run_migration_job(cluster: &Cluster, name: &str) -> String {
    let job = eventually("helm to create the migration Job", || {
        let output =
            cluster.kubectl_as(ADMIN, &["get", "job", name, "-n", NAMESPACE, "-o", "json"]);
        output
            .status
            .success()
            .then(|| serde_json::from_slice::<Value>(&output.stdout).expect("JSON"))
    });
    let spec = &job["spec"]["template"]["spec"];
    assert_eq!(spec["restartPolicy"], "Never");
    let output = container_command(cluster, NAMESPACE, &format!("{name}-x1"), spec, &[])
        .output()
        .expect("running the migration");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert!(output.status.success(), "the migration failed:\n{log}");

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let condition = |kind: &str| {
        serde_json::json!({
            "type": kind, "status": "True", "lastProbeTime": now,
            "lastTransitionTime": now, "reason": "CompletionsReached",
            "message": "Reached expected number of succeeded pods",
        })
    };
    let status = serde_json::json!({"status": {
        "startTime": now, "completionTime": now, "succeeded": 1, "active": 0,
        "ready": 0, "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [condition("SuccessCriteriaMet"), condition("Complete")],
    }});
    cluster.kubectl_ok(&[
        "patch",
        "job",
        name,
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    log
}

/// Checks that every HTTP probe of the pod's container answers 200 from `process`, whose
/// container ports (by name) listen at the addresses in `ports`.
fn probes_answer(
    runtime: &tokio::runtime::Runtime,
    pod_spec: &Value,
    ports: &[(&str, &str)],
    process: &mut Process,
) {
    let container = &pod_spec["containers"][0];
    let mut checked = 0;
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let Some(get) = container[probe]["httpGet"].as_object() else {
            continue;
        };
        let port = get["port"].as_str().expect("probes name their port");
        let (_, addr) = ports
            .iter()
            .find(|(name, _)| *name == port)
            .unwrap_or_else(|| panic!("{probe} uses port {port}, which the test has not mapped"));
        let url = format!("http://{addr}{}", get["path"].as_str().expect("a path"));
        eventually_or(
            &format!("{probe} {url} to answer 200"),
            process.log_reader(),
            || {
                process.assert_running();
                runtime.block_on(async {
                    let response = reqwest::get(&url).await.ok()?;
                    (response.status() == 200).then_some(())
                })
            },
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "{} has no liveness and readiness probes",
        process.name
    );
}

/// The resources NOTES.txt tells the user to apply, cut out of the notes helm printed.
fn manifest_in_notes(notes: &str) -> String {
    let start = notes
        .find("<<'YAML'\n")
        .expect("the notes hold a manifest to apply")
        + "<<'YAML'\n".len();
    let end = start + notes[start..].find("\n  YAML").expect("the manifest ends");
    notes[start..end]
        .lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Secret and key NOTES.txt tells the user to read the token from.
fn token_secret_in_notes(notes: &str) -> (String, String) {
    let line = notes
        .lines()
        .find(|line| line.contains("get secret "))
        .expect("the notes say which Secret holds the token");
    let name = line
        .split("get secret ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a Secret name");
    let next = notes
        .lines()
        .skip_while(|l| *l != line)
        .nth(1)
        .expect("the jsonpath follows");
    let key = next
        .split("{.data.")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a key in the jsonpath");
    (name.to_owned(), key.to_owned())
}

/// Every YAML file under `examples/`, in path order (the examples number their files in
/// the order they are meant to be applied).
fn example_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("listing examples/") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("examples"), &mut files);
    files.sort();
    files
}

/// The objects `kubectl apply` reports, as `kind.group/name`.
fn applied_objects(output: &str) -> impl Iterator<Item = String> + '_ {
    output
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
}

fn wait_ready(cluster: &Cluster, namespace: &str, objects: &[String], operator: &mut Process) {
    for object in objects {
        let started = Instant::now();
        loop {
            operator.assert_running();
            let output = cluster.kubectl_as(
                ADMIN,
                &[
                    "get",
                    object,
                    "-n",
                    namespace,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ],
            );
            if String::from_utf8_lossy(&output.stdout) == "True" {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{object} did not become Ready: {}\n--- operator log\n{}",
                cluster.kubectl_ok(&["get", object, "-n", namespace, "-o", "yaml"]),
                operator.log()
            );
            std::thread::sleep(POLL);
        }
    }
}

/// Changes the plan of Workspace `name` and waits until the operator has reconciled the
/// change; returns the admin token Secret its status names.
fn set_plan(cluster: &Cluster, operator: &mut Process, name: &str, plan: &str) -> Option<String> {
    let object = format!("workspace/{name}");
    let patch = serde_json::json!({"spec": {"plan": plan}}).to_string();
    cluster.kubectl_ok(&[
        "patch",
        &object,
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        &patch,
    ]);
    let log = operator.log_reader();
    eventually_or(
        &format!("{object} to reconcile the {plan} plan"),
        log,
        || {
            operator.assert_running();
            let workspace = get_json(cluster, &[&object, "-n", NAMESPACE]);
            let generation = &workspace["metadata"]["generation"];
            let ready = workspace["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (ready && &workspace["status"]["observedGeneration"] == generation).then(|| {
                workspace["status"]["adminTokenSecret"]
                    .as_str()
                    .map(str::to_owned)
            })
        },
    )
}

#[test]
fn a_real_install_grants_the_operator_exactly_what_it_reconciles_with() {
    let Some(helm) = Helm::new() else { return };
    let Some(cluster) = cluster() else { return };
    let work = tempfile::Builder::new()
        .prefix("socialscalr-install-")
        .tempdir()
        .expect("a temporary directory");
    let fullname = format!("{RELEASE}-socialscalr");

    // The production-like values read the store, Redis and the sealing key from Secrets
    // the SRE creates first. The store is SQLite in a temporary directory, which the
    // migration, the operator and the API server below all open.
    cluster.kubectl_ok(&["create", "namespace", NAMESPACE]);
    let database_url = format!("sqlite://{}/store.db", work.path().display());
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    for (name, value) in [
        ("socialscalr-database", database_url.as_str()),
        ("socialscalr-secret-key", key.as_str()),
    ] {
        let key_name = if name.ends_with("key") { "key" } else { "url" };
        cluster.kubectl_ok(&[
            "create",
            "secret",
            "generic",
            name,
            "-n",
            NAMESPACE,
            &format!("--from-literal={key_name}={value}"),
        ]);
    }

    // helm install, for real: the pre-install hook first, then the release.
    let production = production_values().display().to_string();
    let chart = chart_dir().display().to_string();
    let install = helm
        .command(Some(cluster.kubeconfig(ADMIN)))
        .args([
            "install",
            RELEASE,
            &chart,
            "--namespace",
            NAMESPACE,
            "--values",
            &production,
            // Production points at a Redis of its own; here every process limits on its own.
            "--set",
            "redis.existingSecret=",
            "--timeout",
            "90s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running helm install");
    let migration_log = run_migration_job(cluster, &format!("{fullname}-migrate"));
    assert!(
        migration_log.contains("schema is up to date"),
        "{migration_log}"
    );
    let installed = install.wait_with_output().expect("helm install's output");
    let notes = String::from_utf8_lossy(&installed.stdout).into_owned();
    assert!(
        installed.status.success(),
        "helm install failed:\n{notes}{}",
        stderr(&installed)
    );
    assert!(notes.contains("STATUS: deployed"), "{notes}");

    // The dispatcher scales on the backlog series the dashboard charts, and the
    // dashboard is JSON Grafana can load.
    let hpa = get_json(
        cluster,
        &["hpa", &format!("{fullname}-dispatcher"), "-n", NAMESPACE],
    );
    let metric = hpa["spec"]["metrics"][0]["external"]["metric"]["name"]
        .as_str()
        .expect("the dispatcher's HPA reads an External metric");
    let dashboard = get_json(
        cluster,
        &[
            "configmap",
            &format!("{fullname}-dashboard"),
            "-n",
            NAMESPACE,
        ],
    );
    let dashboard: Value = serde_json::from_str(
        dashboard["data"]["socialscalr.json"]
            .as_str()
            .expect("the dashboard ConfigMap holds socialscalr.json"),
    )
    .expect("the dashboard is JSON");
    let queries: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().expect("a query"))
        .collect();
    assert!(queries.iter().any(|q| q.contains(metric)), "{queries:?}");

    // The api-server and the dispatcher get no token and no permission at all.
    let deployments = get_json(cluster, &["deployments", "-n", NAMESPACE]);
    let mut roles = BTreeMap::new();
    for deployment in deployments["items"].as_array().expect("a list") {
        let name = deployment["metadata"]["name"].as_str().expect("a name");
        let spec = deployment["spec"]["template"]["spec"].clone();
        let container = &spec["containers"][0]["securityContext"];
        assert_eq!(container["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(container["allowPrivilegeEscalation"], false, "{name}");
        roles.insert(name.to_owned(), spec);
    }
    for role in ["api-server", "dispatcher"] {
        let spec = &roles[&format!("{fullname}-{role}")];
        assert_eq!(spec["automountServiceAccountToken"], false, "{role}");
        let account = format!("system:serviceaccount:{NAMESPACE}:{fullname}-{role}");
        for (verb, resource) in [
            ("get", "secrets"),
            ("list", "configmaps"),
            ("list", "pods"),
            ("watch", "workspaces.socialscalr.com"),
            ("create", "leases.coordination.k8s.io"),
        ] {
            let output = cluster.kubectl_as(
                ADMIN,
                &[
                    "auth",
                    "can-i",
                    verb,
                    resource,
                    "-A",
                    &format!("--as={account}"),
                ],
            );
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                "no",
                "{account} may {verb} {resource}"
            );
        }
    }

    // The operator, out of cluster, with a token of the chart's ServiceAccount and the
    // environment of the chart's Deployment.
    let account = format!("{fullname}-operator");
    let token = cluster.kubectl_ok(&["create", "token", &account, "-n", NAMESPACE]);
    let kubeconfig = work.path().join("operator-kubeconfig");
    std::fs::copy(cluster.kubeconfig(ADMIN), &kubeconfig).expect("copying the kubeconfig");
    let config = kubeconfig.display().to_string();
    for args in [
        vec![
            "config",
            "set-credentials",
            "operator",
            "--token",
            token.trim(),
        ],
        vec!["config", "set-context", "--current", "--user", "operator"],
    ] {
        let output = Command::new("kubectl")
            .arg(format!("--kubeconfig={config}"))
            .args(&args)
            .env_remove("KUBECONFIG")
            .output()
            .expect("running kubectl config");
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let pod = format!("{account}-7d9f-x1");
    let operator_metrics = free_addr();
    let operator_spec = &roles[&account];
    assert_eq!(operator_spec["serviceAccountName"], account.as_str());
    let command = container_command(
        cluster,
        NAMESPACE,
        &pod,
        operator_spec,
        &[
            ("KUBECONFIG", config.clone()),
            ("METRICS_ADDR", operator_metrics.clone()),
        ],
    );
    let mut operator = Process::spawn("operator", command, work.path());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");

    let lease = eventually_or(
        "the operator to take the lease",
        operator.log_reader(),
        || {
            operator.assert_running();
            let output = cluster.kubectl_as(
                ADMIN,
                &[
                    "get",
                    "lease",
                    &account,
                    "-n",
                    NAMESPACE,
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ],
            );
            let holder = String::from_utf8_lossy(&output.stdout).into_owned();
            (!holder.is_empty()).then_some(holder)
        },
    );
    assert_eq!(lease, pod);
    probes_answer(
        &runtime,
        operator_spec,
        &[("metrics", &operator_metrics)],
        &mut operator,
    );

    // What NOTES.txt tells the user to do, then every example.
    let manifest = manifest_in_notes(&notes);
    let applied = cluster.kubectl_with_input(
        ADMIN,
        &["apply", "-n", NAMESPACE, "-f", "-"],
        Some(&manifest),
    );
    assert!(applied.status.success(), "{}", stderr(&applied));
    let mut objects: Vec<String> =
        applied_objects(&String::from_utf8_lossy(&applied.stdout)).collect();
    for file in example_files() {
        let file = file.display().to_string();
        objects.extend(applied_objects(
            &cluster.kubectl_ok(&["apply", "-n", NAMESPACE, "-f", &file]),
        ));
    }
    objects.retain(|object| object.contains(".socialscalr.com/"));
    assert!(
        objects.iter().any(|o| o.starts_with("workspace."))
            && objects.iter().any(|o| o.starts_with("apitoken.")),
        "{objects:?}"
    );
    wait_ready(cluster, NAMESPACE, &objects, &mut operator);

    // The API server with its Deployment's environment answers the token NOTES.txt
    // tells the user to read.
    let (secret, key) = token_secret_in_notes(&notes);
    let token = secret_value(cluster, NAMESPACE, &secret, &key);
    let (listen, api_metrics) = (free_addr(), free_addr());
    let api_spec = &roles[&format!("{fullname}-api-server")];
    let command = container_command(
        cluster,
        NAMESPACE,
        "api-x1",
        api_spec,
        &[
            ("LISTEN_ADDR", listen.clone()),
            ("METRICS_ADDR", api_metrics.clone()),
        ],
    );
    let mut api = Process::spawn("api-server", command, work.path());
    let ports = [("http", listen.as_str()), ("metrics", api_metrics.as_str())];
    probes_answer(&runtime, api_spec, &ports, &mut api);
    let workspace: Value = eventually_or("the API to answer", api.log_reader(), || {
        api.assert_running();
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(format!("http://{listen}/api/v1/workspace"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?;
            assert_eq!(response.status(), 200, "GET /workspace with the token");
            response.json().await.ok()
        })
    });
    assert_eq!(workspace["name"], "acme", "{workspace}");
    drop(api);

    // The dispatcher starts on its Deployment's environment and its probes answer.
    let dispatcher_metrics = free_addr();
    let dispatcher_spec = &roles[&format!("{fullname}-dispatcher")];
    let command = container_command(
        cluster,
        NAMESPACE,
        "dispatcher-x1",
        dispatcher_spec,
        &[("METRICS_ADDR", dispatcher_metrics.clone())],
    );
    let mut dispatcher = Process::spawn("dispatcher", command, work.path());
    let ports = [("metrics", dispatcher_metrics.as_str())];
    probes_answer(&runtime, dispatcher_spec, &ports, &mut dispatcher);
    drop(dispatcher);

    // A plan change exercises the rest of the grant: the agency plan's admin token
    // Secret is created, the limits ConfigMap updated, and leaving agency deletes the
    // Secret again.
    let admin_secret = set_plan(cluster, &mut operator, "acme", "agency")
        .expect("an agency workspace names its admin token Secret");
    cluster.kubectl_ok(&["get", "secret", &admin_secret, "-n", NAMESPACE]);
    set_plan(cluster, &mut operator, "acme", "pro");
    eventually_or(
        "the admin token Secret to be deleted",
        operator.log_reader(),
        || {
            let output =
                cluster.kubectl_as(ADMIN, &["get", "secret", &admin_secret, "-n", NAMESPACE]);
            (!output.status.success()).then_some(())
        },
    );

    // Deleting the resources runs their finalizers, which need the same permissions.
    for object in &objects {
        cluster.kubectl_ok(&["delete", object, "-n", NAMESPACE, "--wait=false"]);
    }
    for object in &objects {
        eventually_or(
            &format!("{object} to be deleted"),
            operator.log_reader(),
            || {
                operator.assert_running();
                let output = cluster.kubectl_as(ADMIN, &["get", object, "-n", NAMESPACE]);
                (!output.status.success()).then_some(())
            },
        );
    }
    let log = operator.log();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something:\n{log}"
    );
}

/// The data of the Secrets of `namespace`, by name, decoded.
fn secrets_in(cluster: &Cluster, namespace: &str) -> BTreeMap<String, Value> {
    let list = get_json(cluster, &["secrets", "-n", namespace]);
    list["items"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|secret| secret["type"] == "Opaque")
        .map(|secret| {
            let name = secret["metadata"]["name"].as_str().expect("a name");
            (name.to_owned(), secret["data"].clone())
        })
        .collect()
}

#[test]
fn an_upgrade_keeps_the_generated_sealing_key_and_passwords() {
    let Some(helm) = Helm::new() else { return };
    let Some(cluster) = cluster() else { return };
    let namespace = "trial";
    let chart = chart_dir().display().to_string();
    // The migration hook is not the subject here: no kubelet would run it.
    let run = |verb: &str| {
        let output = helm
            .command(Some(cluster.kubeconfig(ADMIN)))
            .args([
                verb,
                "trial",
                &chart,
                "--namespace",
                namespace,
                "--no-hooks",
            ])
            .args(["--create-namespace", "--timeout", "60s"])
            .output()
            .expect("running helm");
        assert!(output.status.success(), "helm {verb}: {}", stderr(&output));
    };

    run("install");
    let before = secrets_in(cluster, namespace);
    let names: Vec<&str> = before.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "trial-socialscalr-database",
            "trial-socialscalr-redis",
            "trial-socialscalr-secret-key"
        ]
    );
    let key = before["trial-socialscalr-secret-key"]["key"]
        .as_str()
        .expect("the generated key");
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("Secret data is base64");
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("SOCIALSCALR_SECRET_KEY is base64");
    assert_eq!(key.len(), 32, "SOCIALSCALR_SECRET_KEY holds 32 bytes");

    run("upgrade");
    assert_eq!(secrets_in(cluster, namespace), before);
}
