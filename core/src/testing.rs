//! What the workspace's tests share for reaching the PostgreSQL and Redis servers that
//! `scripts/services` starts: each test gets a database of its own on that server.

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
