//! The PostgreSQL backend, for many api-server and dispatcher processes on one database.
//! It runs the same queries as the SQLite backend (`store/sql`), with two differences that
//! matter under concurrency: a write on a workspace's rows holds that workspace's
//! transaction-scoped advisory lock, so the read-then-write checks of those queries (seats,
//! idempotency keys, custom fields) see no concurrent change, as under SQLite's single
//! writer; and dispatchers claim with `FOR UPDATE SKIP LOCKED`, so they never wait on
//! each other. New deliveries are announced with `NOTIFY`, which wakes every dispatcher.

mod claim;

shared_queries!();

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::store::rows::*;
use crate::store::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel on which a commit that queued deliveries tells every dispatcher.
const DELIVERIES_CHANNEL: &str = "socialscalr_deliveries";

/// How long a request waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgStore {
    pool: PgPool,
    deliveries_created: Arc<Notify>,
    listener: std::sync::Mutex<Option<JoinHandle<()>>>,
}

type Tx = Transaction<'static, Postgres>;
type DbStore = PgStore;
type Db = Postgres;
type DbRow = PgRow;
type DbConnection = sqlx::PgConnection;

impl PgStore {
    /// Connects once, so a wrong URL or an unreachable server stops the process at start;
    /// later outages are retried by each use of the pool.
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("socialscalr");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size())
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            deliveries_created: Arc::new(Notify::new()),
            listener: std::sync::Mutex::new(None),
        })
    }

    /// Applies pending migrations; concurrent processes wait on the migrator's lock.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// A write transaction that holds `workspace_id`'s lock until it ends.
    async fn write_in(&self, workspace_id: &str) -> Result<Tx> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(workspace_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Commits and, when deliveries were queued, wakes the dispatchers of every process:
    /// the notification is sent by the commit itself, so none is sent for a rollback.
    async fn commit_with_deliveries(&self, mut tx: Tx, queued: usize) -> Result<()> {
        if queued > 0 {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(DELIVERIES_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if queued > 0 {
            self.deliveries_created.notify_waiters();
        }
        Ok(())
    }

    /// What wakes dispatchers; the first call starts forwarding other processes'
    /// notifications to it, so processes that never dispatch hold no listening connection.
    fn wake_handle(&self) -> Arc<Notify> {
        let mut listener = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        if listener.is_none() {
            let pool = self.pool.clone();
            let wake = Arc::clone(&self.deliveries_created);
            *listener = Some(tokio::spawn(forward_notifications(pool, wake)));
        }
        Arc::clone(&self.deliveries_created)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let listener = self.listener.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = listener.take() {
            task.abort();
        }
    }
}

/// Wakes the dispatchers on each notification, and once more whenever the listening
/// connection is re-established, since notifications sent while it was down are lost.
async fn forward_notifications(pool: PgPool, wake: Arc<Notify>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for new deliveries; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(error) = listener.listen(DELIVERIES_CHANNEL).await {
            tracing::warn!(%error, "cannot listen for new deliveries; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        backoff = Duration::from_millis(200);
        wake.notify_waiters();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake.notify_waiters(),
                // The connection was lost; the listener reconnects on the next call.
                Ok(None) => wake.notify_waiters(),
                Err(error) => {
                    tracing::warn!(%error, "lost the listener for new deliveries");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Connections per process; each api-server and dispatcher replica holds its own pool.
fn pool_size() -> u32 {
    const DEFAULT: u32 = 16;
    std::env::var("SOCIALSCALR_DATABASE_POOL_SIZE")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&size| size > 0)
        .unwrap_or(DEFAULT)
}
