//! The schedulers: changes that time makes rather than a request. Every few seconds the
//! store is swept for campaigns whose end date passed (or whose target a lead reached
//! without completing them) and for posts left unreported well past their time.
//!
//! The scheduler keeps no state of its own: what is due is read from the store, and each
//! change is conditional in SQL on the row still being active or scheduled. A restart
//! picks up where the last process stopped, and any number of schedulers may sweep the
//! same store at once; each change, and its event, happens once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use socialscalr_core::config::{self, ConfigError};
use socialscalr_core::store::{Store, StoreError};
use socialscalr_core::time::{self, Timestamp};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often the store is swept.
    pub interval: Duration,
    /// How long after its time a post may stay without a result before it is failed as
    /// `not_run`.
    pub post_grace: Duration,
    /// Rows changed per transaction; a longer backlog takes several, so that no sweep
    /// holds the write lock for long.
    pub batch: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            post_grace: Duration::from_secs(3_600),
            batch: 100,
        }
    }
}

impl SchedulerConfig {
    /// The defaults, with `SOCIALSCALR_SCHEDULER_INTERVAL` and `SOCIALSCALR_POST_GRACE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let interval = config::duration(
            config::SCHEDULER_INTERVAL,
            defaults.interval,
            Duration::from_secs(1),
        )?;
        let post_grace = config::duration(config::POST_GRACE, defaults.post_grace, Duration::ZERO)?;
        Ok(Self {
            interval,
            post_grace,
            ..defaults
        })
    }
}

/// What one sweep changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    pub campaigns_completed: usize,
    pub posts_failed: usize,
}

pub struct Scheduler {
    store: Arc<dyn Store>,
    config: SchedulerConfig,
}

impl Scheduler {
    pub fn new(store: Arc<dyn Store>, mut config: SchedulerConfig) -> Self {
        // An empty batch would never finish a sweep.
        config.batch = config.batch.max(1);
        Self { store, config }
    }

    /// Sweeps at once and then every interval until `shutdown` completes. A failed sweep
    /// is logged and tried again at the next tick.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        tracing::info!(
            interval_ms = self.config.interval.as_millis() as u64,
            post_grace_s = self.config.post_grace.as_secs(),
            "Scheduler started"
        );
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut shutdown => break,
            }
            if let Err(error) = self.sweep(time::now()).await {
                tracing::warn!(%error, "Scheduler sweep failed; trying again at the next tick");
            }
        }
        tracing::info!("Scheduler stopped");
    }

    /// One sweep as of `now`: completes the campaigns that are due and fails the posts
    /// left unreported, batch after batch until none is left.
    pub async fn sweep(&self, now: Timestamp) -> Result<Sweep, StoreError> {
        // Each half runs even when the other fails: a fault in one should not hold up both.
        let campaigns = self.complete_campaigns(now).await;
        let posts = self.fail_unrun_posts(now).await;
        Ok(Sweep {
            campaigns_completed: campaigns?,
            posts_failed: posts?,
        })
    }

    async fn complete_campaigns(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let batch = self
                .store
                .complete_due_campaigns(now, self.config.batch)
                .await?;
            for completed in &batch {
                tracing::info!(
                    workspace = %completed.workspace_id,
                    campaign = %completed.item.campaign.id,
                    reason = ?completed.item.reason,
                    leads = completed.item.leads,
                    event = %completed.event_id,
                    "Campaign completed"
                );
            }
            total += batch.len();
            if batch.len() < self.config.batch as usize {
                return Ok(total);
            }
        }
    }

    async fn fail_unrun_posts(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let batch = self
                .store
                .fail_unrun_posts(now, self.config.post_grace, self.config.batch)
                .await?;
            for failed in &batch {
                tracing::info!(
                    workspace = %failed.workspace_id,
                    post = %failed.item.id,
                    scheduled_at = %failed.item.scheduled_at,
                    event = %failed.event_id,
                    "Post failed: no result was reported"
                );
            }
            total += batch.len();
            if batch.len() < self.config.batch as usize {
                return Ok(total);
            }
        }
    }
}
