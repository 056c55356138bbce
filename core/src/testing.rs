//! What the workspace's tests share for reaching the PostgreSQL and Redis servers that
//! `scripts/services` starts: each test gets a database of its own on that server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// Names the server the test suite's PostgreSQL runs on.
pub const DATABASE_URL_VAR: &str = "SOCIALSCALR_TEST_DATABASE_URL";
/// Names the suite's Redis server.
pub const REDIS_URL_VAR: &str = "SOCIALSCALR_TEST_REDIS_URL";
/// When set, a missing server fails the test instead of skipping it.
pub const REQUIRE_VAR: &str = "SOCIALSCALR_REQUIRE_SERVICES";

/// The URL in `var`, or `None` with a notice when the suite runs without that server.
///
/// # Panics
/// When the variable is missing and [`REQUIRE_VAR`] is set: the full suite must not pass
/// by skipping.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os(REQUIRE_VAR).is_some() => {
            panic!("{var} is not set; scripts/test starts the servers and sets it")
        }
        _ => {
            eprintln!("skipped: {var} is not set (scripts/test starts the servers)");
            None
        }
    }
}

/// A new, empty database on the suite's PostgreSQL server, as a URL.
///
/// # Panics
/// When the server cannot be reached or refuses to create the database.
pub async fn fresh_postgres_database() -> Option<String> {
    let server = service_url(DATABASE_URL_VAR)?;
    let name = format!("test_{}", ulid::Ulid::new().to_string().to_lowercase());
    let options = PgConnectOptions::from_str(&server).expect("a PostgreSQL URL");
    let mut admin = PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {server}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let _ = admin.close().await;
    let mut url = url::Url::parse(&server).expect("a PostgreSQL URL");
    url.set_path(&name);
    Some(url.to_string())
}

/// Private PostgreSQL and Redis instances of one test, which it may stop and start again
/// to see what an outage does. Stopped and removed when dropped.
pub struct PrivateServices {
    dir: PathBuf,
    redis_url: String,
}

impl PrivateServices {
    /// Starts the instances with `scripts/services start`.
    pub fn start() -> PrivateServices {
        let dir = std::env::temp_dir().join(crate::ids::new_id("services"));
        run_services(&["start", path_str(&dir)]);
        let env = std::fs::read_to_string(dir.join("env")).expect("scripts/services wrote env");
        let redis_url = env
            .lines()
            .find_map(|line| line.strip_prefix(&format!("export {REDIS_URL_VAR}=")))
            .expect("the env file names the Redis URL")
            .to_owned();
        PrivateServices { dir, redis_url }
    }

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// Stops Redis, as an outage does.
    pub fn kill_redis(&self) {
        run_services(&["kill", "redis", path_str(&self.dir)]);
    }

    /// Starts Redis again on the same port, empty.
    pub fn start_redis(&self) {
        run_services(&["up", "redis", path_str(&self.dir)]);
    }
}

impl Drop for PrivateServices {
    fn drop(&mut self) {
        let _ = services_command(&["stop", path_str(&self.dir)]).status();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .expect("the temporary directory's path is UTF-8")
}

fn services_command(args: &[&str]) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core lives in the workspace root");
    let mut command = Command::new(root.join("scripts/services"));
    command.args(args);
    command
}

fn run_services(args: &[&str]) {
    let status = services_command(args)
        .status()
        .unwrap_or_else(|e| panic!("running scripts/services {args:?}: {e}"));
    assert!(
        status.success(),
        "scripts/services {args:?} failed: {status}"
    );
}
