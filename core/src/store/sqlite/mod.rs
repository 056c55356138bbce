//! The embedded SQLite backend: one file, WAL journal, writes in `BEGIN IMMEDIATE`
//! transactions so that several processes on one data directory wait for each other
//! instead of failing.

mod audit;
mod completion;
mod deliveries;
mod idempotency;
mod leads;
mod managed;
mod outbox;
mod posts;
mod subscriptions;
mod tenancy;
mod tokens;
mod watchtower;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::Notify;

use crate::store::*;
use crate::time::{Timestamp, from_micros};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    deliveries_created: Arc<Notify>,
}

type Tx = Transaction<'static, Sqlite>;

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self> {
        if let Some(file) = crate::config::sqlite_file(url) {
            create_private(&file).map_err(|e| {
                StoreError::Conflict(format!("cannot create {}: {e}", file.display()))
            })?;
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            deliveries_created: Arc::new(Notify::new()),
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn enum_text<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => unreachable!("unit enums serialize as strings"),
    }
}

fn decode_enum<T: DeserializeOwned>(column: &str, text: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn decode_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("model values serialize to JSON")
}

/// Creates the database file, and its directory when missing, readable by this user only:
/// it holds tenants' data. SQLite gives its journal files the database file's mode.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

    if let Some(dir) = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty() && !dir.exists())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

pub(super) fn optional_u32(value: Option<i64>) -> Option<u32> {
    value.and_then(|n| u32::try_from(n).ok())
}

pub(super) fn optional_time(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(from_micros)
}

pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Finishes a page fetched with one row more than asked for.
fn page_of<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> &str) -> Page<T> {
    let limit = limit as usize;
    let next_after = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|item| id(item).to_owned())
    });
    Page {
        items,
        next_after: next_after.flatten(),
    }
}

impl SqliteStore {
    /// One page of a workspace's rows, newest first. `select` is the query up to and
    /// including its conditions, ending in a `?` for the workspace id; `id_column` is the
    /// column the rows are ordered and paged by.
    async fn list_page<T>(
        &self,
        select: &str,
        id_column: &str,
        workspace_id: &str,
        page: &PageRequest,
        from_row: fn(&SqliteRow) -> Result<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<Page<T>> {
        let sql = format!("{select} AND {id_column} < ? ORDER BY {id_column} DESC LIMIT ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(page.after.as_deref().unwrap_or("\u{10ffff}"))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, id))
    }

    /// Commits and, when deliveries were queued, wakes the dispatchers.
    async fn commit_with_deliveries(&self, tx: Tx, queued: usize) -> Result<()> {
        tx.commit().await?;
        if queued > 0 {
            self.deliveries_created.notify_waiters();
        }
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_new_database_and_its_directory_are_private_to_their_user() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let url = format!("sqlite://{}/store.db", dir.display());
        let store = SqliteStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("store.db")), 0o600);
        assert_eq!(mode(&dir.join("store.db-wal")), 0o600);
    }
}
