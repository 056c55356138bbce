//! The embedded SQLite backend: one file, WAL journal, writes in `BEGIN IMMEDIATE`
//! transactions so that several processes on one data directory wait for each other
//! instead of failing.

mod claim;
#[cfg(test)]
mod tests;

shared_queries!();

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::Notify;

use crate::store::rows::*;
use crate::store::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    deliveries_created: Arc<Notify>,
}

type Tx = Transaction<'static, Sqlite>;
type DbStore = SqliteStore;
type Db = Sqlite;
type DbRow = SqliteRow;
type DbConnection = sqlx::SqliteConnection;

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

    /// What wakes dispatchers: every write that queues deliveries is made in this process.
    fn wake_handle(&self) -> Arc<Notify> {
        Arc::clone(&self.deliveries_created)
    }

    /// A write transaction on one workspace's rows. SQLite has one writer at a time, so
    /// this is any write transaction.
    async fn write_in(&self, _workspace_id: &str) -> Result<Tx> {
        self.write().await
    }
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

impl SqliteStore {
    /// Commits and, when deliveries were queued, wakes the dispatchers.
    async fn commit_with_deliveries(&self, tx: Tx, queued: usize) -> Result<()> {
        tx.commit().await?;
        if queued > 0 {
            self.deliveries_created.notify_waiters();
        }
        Ok(())
    }
}
