//! A private Kubernetes API server for tests, set up the way the Kubernetes project's own
//! test environment does it: etcd on loopback with a temporary data directory, and
//! kube-apiserver on a free secure port of 127.0.0.1 with a throwaway serving certificate,
//! generated service-account keys, RBAC, and a token file with an admin in
//! `system:masters` plus the users a test asks for. No kubelet, scheduler or controller
//! manager runs, so nothing garbage-collects owned objects.
//!
//! Each server runs under a small shell that ends it when this process's end of its
//! standard input closes, so that a cluster shared by a whole test binary stops with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Set to 1 where the suite must run everything: missing binaries fail instead of skip.
pub const REQUIRE_SERVICES: &str = "SOCIALSCALR_REQUIRE_SERVICES";
/// A directory with kube-apiserver and etcd, as the Kubernetes test tooling names it.
pub const KUBEBUILDER_ASSETS: &str = "KUBEBUILDER_ASSETS";
/// The directory `scripts/kube-tools` printed, exported by `scripts/test`.
pub const KUBE_TOOLS: &str = "SOCIALSCALR_KUBE_TOOLS";

const KUBECTL: &str = "/usr/bin/kubectl";
const START_DEADLINE: Duration = Duration::from_secs(90);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .to_path_buf()
}

/// The directory holding kube-apiserver, etcd (and helm, when built here): from
/// `KUBEBUILDER_ASSETS`, `SOCIALSCALR_KUBE_TOOLS`, or the cache of `scripts/kube-tools`.
/// `None` when there is none, so that the caller skips; a panic instead when
/// `SOCIALSCALR_REQUIRE_SERVICES=1`.
pub fn tools_dir() -> Option<PathBuf> {
    let from_env = [KUBEBUILDER_ASSETS, KUBE_TOOLS]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .next();
    let dir = from_env.or_else(|| {
        let output = Command::new(repo_root().join("scripts/kube-tools"))
            .arg("--check")
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        output.status.success().then(|| PathBuf::from(text.trim()))
    });
    let complete = dir.as_ref().is_some_and(|dir| {
        ["kube-apiserver", "etcd"]
            .iter()
            .all(|bin| dir.join(bin).is_file())
    }) && Path::new(KUBECTL).is_file();
    if complete {
        return dir;
    }
    let why = format!(
        "no kube-apiserver and etcd (looked in {KUBEBUILDER_ASSETS}, {KUBE_TOOLS} and the cache \
         of scripts/kube-tools: {dir:?}) or no {KUBECTL}; run scripts/kube-tools"
    );
    if std::env::var(REQUIRE_SERVICES).as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// A user of the token file.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn new(name: &str) -> User {
        User {
            name: name.to_owned(),
            groups: Vec::new(),
        }
    }
}

pub const ADMIN: &str = "admin";

/// A process that ends, with its directory removed, when this process drops its stdin or
/// exits.
struct Supervised {
    stdin: Option<ChildStdin>,
    child: Child,
    log: PathBuf,
}

impl Supervised {
    fn spawn(program: &Path, args: &[String], log: &Path, cleanup: &Path) -> Supervised {
        // A background job's stdin is /dev/null, so the watcher reads a copy kept on fd 3.
        let script = r#"cleanup="$1"; shift
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
(cat <&3 >/dev/null; kill "$child" 2>/dev/null) &
exec 3<&-
wait "$child"
status=$?
rm -rf "$cleanup"
exit $status"#;
        let log_file = std::fs::File::create(log).expect("creating a log file");
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(cleanup)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().expect("duplicating the log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let mut child = child;
        Supervised {
            stdin: child.stdin.take(),
            child,
            log: log.to_owned(),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// etcd and kube-apiserver on 127.0.0.1, and a kubeconfig per user.
pub struct Cluster {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
    kubeconfigs: BTreeMap<String, PathBuf>,
    // Dropped in this order: the API server before its etcd.
    apiserver: Supervised,
    etcd: Supervised,
    _root: TempDir,
}

impl Cluster {
    /// Starts etcd and kube-apiserver from `tools` with the admin and `users`, waits until
    /// the API server is ready, installs the CRDs of `crds/`, and lets each user in
    /// `operators` do what `deploy/operator-rbac.yaml` allows the operator.
    pub fn start(tools: &Path, users: &[User], operators: &[&str]) -> Cluster {
        let root = tempfile::Builder::new()
            .prefix("socialscalr-kube-")
            .tempdir()
            .expect("a temporary directory");
        let dir = root.path().to_path_buf();
        let etcd_dir = dir.join("etcd");
        std::fs::create_dir_all(&etcd_dir).expect("creating etcd's directory");

        // etcd, as the API server's storage only: loopback, no fsync, throwaway data.
        let (client_port, peer_port) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = [
            "--name=test".to_owned(),
            format!("--data-dir={}", etcd_dir.join("data").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=test={peer_url}"),
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        let etcd = Supervised::spawn(
            &tools.join("etcd"),
            &etcd_args,
            &dir.join("etcd.log"),
            &etcd_dir,
        );

        // A serving certificate for 127.0.0.1, which clients trust directly, and a key that
        // signs service-account tokens.
        let serving = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("a self-signed certificate");
        let cert = dir.join("apiserver.crt");
        let key = dir.join("apiserver.key");
        std::fs::write(&cert, serving.cert.pem()).expect("writing the certificate");
        std::fs::write(&key, serving.signing_key.serialize_pem()).expect("writing the key");
        let service_accounts = dir.join("service-accounts.key");
        let service_accounts_public = dir.join("service-accounts.pub");
        let sa_key = rcgen::KeyPair::generate().expect("a service-account key");
        std::fs::write(&service_accounts, sa_key.serialize_pem()).expect("writing the key");
        std::fs::write(&service_accounts_public, sa_key.public_key_pem())
            .expect("writing the public key");

        let mut all_users = vec![User {
            name: ADMIN.to_owned(),
            groups: vec!["system:masters".to_owned()],
        }];
        all_users.extend(users.iter().cloned());
        let mut token_file = String::new();
        let mut tokens = BTreeMap::new();
        for (index, user) in all_users.iter().enumerate() {
            let token = format!("test-token-{index}-{}", free_port());
            let groups = user.groups.join(",");
            writeln!(
                token_file,
                "{token},{},{},\"{groups}\"",
                user.name, user.name
            )
            .expect("writing to a string");
            tokens.insert(user.name.clone(), token);
        }
        let token_path = dir.join("tokens.csv");
        std::fs::write(&token_path, token_file).expect("writing the token file");

        let port = free_port();
        let url = format!("https://127.0.0.1:{port}");
        let apiserver_args = [
            format!("--etcd-servers={client_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", dir.join("certs").display()),
            format!("--tls-cert-file={}", cert.display()),
            format!("--tls-private-key-file={}", key.display()),
            format!("--token-auth-file={}", token_path.display()),
            "--authorization-mode=RBAC".to_owned(),
            format!("--service-account-issuer={url}"),
            format!(
                "--service-account-key-file={}",
                service_accounts_public.display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                service_accounts.display()
            ),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--endpoint-reconciler-type=none".to_owned(),
            "--disable-admission-plugins=ServiceAccount".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--enable-priority-and-fairness=false".to_owned(),
            "--v=0".to_owned(),
        ];
        let apiserver = Supervised::spawn(
            &tools.join("kube-apiserver"),
            &apiserver_args,
            &dir.join("kube-apiserver.log"),
            &dir,
        );

        let mut kubeconfigs = BTreeMap::new();
        for (user, token) in &tokens {
            let path = dir.join(format!("kubeconfig-{user}"));
            let text = format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    \
                 server: {url}\n    certificate-authority: {}\nusers:\n- name: {user}\n  \
                 user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    \
                 cluster: test\n    user: {user}\ncurrent-context: test\n",
                cert.display()
            );
            std::fs::write(&path, text).expect("writing a kubeconfig");
            kubeconfigs.insert(user.clone(), path);
        }

        let mut cluster = Cluster {
            url,
            dir,
            kubeconfigs,
            apiserver,
            etcd,
            _root: root,
        };
        cluster.wait_until_ready();
        cluster.install(operators);
        cluster
    }

    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            let ready = self.kubectl_as(ADMIN, &["get", "--raw=/readyz"]);
            if ready.status.success() {
                return;
            }
            let failed = self.etcd.exited() || self.apiserver.exited();
            if failed || started.elapsed() > START_DEADLINE {
                panic!(
                    "the test API server did not become ready\n--- etcd\n{}\n\
                     --- kube-apiserver\n{}",
                    self.etcd.log_tail(),
                    self.apiserver.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn install(&self, operators: &[&str]) {
        let crds = repo_root().join("crds");
        self.kubectl_ok(&["apply", "-f", &crds.display().to_string()]);
        self.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/workspaces.socialscalr.com",
            "crd/apitokens.socialscalr.com",
            "crd/webhookendpoints.socialscalr.com",
        ]);
        let rbac = repo_root().join("deploy/operator-rbac.yaml");
        self.kubectl_ok(&["create", "namespace", "socialscalr"]);
        self.kubectl_ok(&["apply", "-f", &rbac.display().to_string()]);
        for user in operators {
            self.kubectl_ok(&[
                "create",
                "clusterrolebinding",
                &format!("socialscalr-operator-{user}"),
                "--clusterrole=socialscalr-operator",
                &format!("--user={user}"),
            ]);
        }
    }

    pub fn kubeconfig(&self, user: &str) -> &Path {
        self.kubeconfigs
            .get(user)
            .unwrap_or_else(|| panic!("no user {user} in the token file"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// kubectl as `user`, always with this cluster's kubeconfig.
    pub fn kubectl_as(&self, user: &str, args: &[&str]) -> Output {
        self.kubectl_with_input(user, args, None)
    }

    pub fn kubectl_with_input(&self, user: &str, args: &[&str], input: Option<&str>) -> Output {
        let mut command = Command::new(KUBECTL);
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig(user).display()))
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("running kubectl");
        if let Some(input) = input {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("kubectl's stdin");
            stdin
                .write_all(input.as_bytes())
                .expect("writing to kubectl");
        }
        child.wait_with_output().expect("kubectl's output")
    }

    /// kubectl as the admin; fails the test when kubectl fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl_as(ADMIN, args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml` as the admin; the output on success, the error text
    /// on failure.
    pub fn apply(&self, yaml: &str) -> Result<String, String> {
        let output = self.kubectl_with_input(ADMIN, &["apply", "-f", "-"], Some(yaml));
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A kube-rs client acting as `user`.
    pub async fn client(&self, user: &str) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(self.kubeconfig(user)).expect("a kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("a client configuration");
        kube::Client::try_from(config).expect("a client")
    }
}
