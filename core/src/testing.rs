//! For the test suites of every crate: the real services a test needs, and when they are
//! missing, a skip with a notice or, where the suite requires them, a failure.
//!
//! `scripts/services start DIR` starts private PostgreSQL and Redis instances on loopback
//! and writes `DIR/env`, which exports their URLs; `scripts/test` does so and sets
//! `SOCIALSCALR_REQUIRE_SERVICES=1`, so that there a missing service fails the test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config;

pub const REQUIRE_SERVICES: &str = "SOCIALSCALR_REQUIRE_SERVICES";
pub const TEST_REDIS_URL: &str = "SOCIALSCALR_TEST_REDIS_URL";

/// The URL in the variable `name`; `None` after a printed notice when it is unset, or a
/// panic when the suite requires its services.
pub fn service_url(name: &str) -> Option<String> {
    if let Some(url) = config::var(name) {
        return Some(url);
    }
    let required = config::var(REQUIRE_SERVICES).is_some_and(|value| value != "0");
    assert!(
        !required,
        "{name} is not set but {REQUIRE_SERVICES}=1: start the services with \
         `scripts/services start DIR` and `. DIR/env`"
    );
    // Written past the test harness's capture, so that a skip shows in the run's output.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {name} is not set; `scripts/services start DIR` and `. DIR/env` provide it"
    );
    None
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
            .find_map(|line| line.strip_prefix(&format!("export {TEST_REDIS_URL}=")))
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
