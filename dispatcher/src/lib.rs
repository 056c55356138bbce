//! The dispatcher: claims due deliveries from the store, signs and POSTs them with a
//! bounded number in flight (and a smaller bound per endpoint, so one slow receiver holds
//! only its own slots), and records every attempt with what follows it. Slack and Discord
//! endpoints get the event rendered for their service, paced to the rate it accepts.

mod attempt;
mod client;
mod outbound;
mod outcome;
mod pacing;
mod render;
pub mod scheduler;
mod slots;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socialscalr_core::config::{
    self, ConfigError, DISPATCH_CONCURRENCY, DISPATCH_LEASE, DISPATCH_POLL_INTERVAL,
};
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::ids::{self, new_id};
use socialscalr_core::ratelimit::Limiter;
use socialscalr_core::retry::RetrySchedule;
use socialscalr_core::store::{
    AttemptRecord, AttemptResult, ClaimRequest, ClaimedDelivery, Store, StoreError,
};
use socialscalr_core::target::TargetPolicy;
use socialscalr_core::time::{self, Timestamp};
use socialscalr_metrics::{DEFAULT_MAX_WORKSPACES, DeliveryMetrics, Metrics};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::outbound::OutboundCap;
use crate::pacing::Pacer;
use crate::slots::{Caps, InFlight};

/// The longest a chat service's 429 keeps its endpoint out of claims.
const MAX_HOLD_OFF: Duration = Duration::from_secs(3_600);

pub use attempt::EXCERPT_BYTES;
pub use pacing::ChatPacing;
pub use scheduler::{Scheduler, SchedulerConfig};

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Names this process's claims in the store.
    pub worker_id: String,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Deliveries in flight at once to one endpoint.
    pub per_endpoint: u32,
    /// Deliveries in flight at once for one workspace, across its endpoints.
    pub per_workspace: u32,
    /// How long a claim holds; longer than an attempt can take.
    pub lease: Duration,
    /// How often the store is polled when no wake-up arrives.
    pub poll_interval: Duration,
    /// The deadline of one attempt, connect to last byte.
    pub attempt_timeout: Duration,
    /// How long a stop waits for attempts in flight.
    pub shutdown_grace: Duration,
    pub schedule: RetrySchedule,
    pub target_policy: TargetPolicy,
    /// The least time between two messages to one Slack or Discord webhook.
    pub chat_pacing: ChatPacing,
    /// The window of the outbound cap: a workspace makes at most its webhook events per
    /// minute of attempts in any such window. A minute, except in tests.
    pub outbound_window: Duration,
    /// How often the queue is measured for the queue metrics.
    pub queue_sample_interval: Duration,
}

const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a wake-up waits for more new deliveries before claiming.
const WAKE_SETTLE: Duration = Duration::from_millis(3);

impl DispatcherConfig {
    /// The defaults, with the lease and concurrency a deployment may set in its environment.
    pub fn from_env(
        schedule: RetrySchedule,
        target_policy: TargetPolicy,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::new(schedule, target_policy);
        // A lease shorter than an attempt could let a second dispatcher start the same
        // delivery while the first is still sending it.
        let shortest_lease = config.attempt_timeout + Duration::from_secs(2);
        config.lease = config::duration(DISPATCH_LEASE, config.lease, shortest_lease)?;
        config.concurrency =
            config::count(DISPATCH_CONCURRENCY, config.concurrency as u32, 1..=4096)? as usize;
        // New deliveries wake the dispatchers at once; the poll only finds retries falling
        // due and anything a lost wake-up missed.
        config.poll_interval = config::duration(
            DISPATCH_POLL_INTERVAL,
            config.poll_interval,
            MIN_POLL_INTERVAL,
        )?;
        Ok(config)
    }

    pub fn new(schedule: RetrySchedule, target_policy: TargetPolicy) -> Self {
        Self {
            worker_id: new_id("wrk"),
            concurrency: 64,
            per_endpoint: 8,
            per_workspace: 16,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(8),
            shutdown_grace: Duration::from_secs(20),
            schedule,
            target_policy,
            chat_pacing: ChatPacing::standard(),
            outbound_window: Duration::from_secs(60),
            queue_sample_interval: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Dispatcher {
    shared: Shared,
}

struct Shared {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    client: reqwest::Client,
    config: DispatcherConfig,
    in_flight: Mutex<InFlight>,
    pacer: Pacer,
    outbound: OutboundCap,
    metrics: DeliveryMetrics,
}

/// Holds an endpoint slot and a global slot until the attempt is recorded.
struct Slot {
    shared: Arc<Shared>,
    endpoint_id: String,
    workspace_id: String,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        in_flight.give_back(&self.endpoint_id, &self.workspace_id);
        self.shared.metrics.in_flight().dec();
    }
}

impl Dispatcher {
    /// A dispatcher with the outbound cap kept in this process and metrics in a registry
    /// of its own; [`Dispatcher::with_limiter`] and [`Dispatcher::with_metrics`] change them.
    pub fn new(
        store: Arc<dyn Store>,
        secrets: SecretBox,
        config: DispatcherConfig,
    ) -> Result<Self, DispatchError> {
        let client = client::build(config.target_policy, config.attempt_timeout)?;
        let outbound = OutboundCap::new(Arc::new(Limiter::local()), config.outbound_window);
        let metrics = Metrics::new("dispatcher", DEFAULT_MAX_WORKSPACES);
        let shared = Shared {
            store,
            secrets,
            client,
            config,
            in_flight: Mutex::new(InFlight::default()),
            pacer: Pacer::default(),
            outbound,
            metrics: DeliveryMetrics::register(&metrics),
        };
        Ok(Self { shared })
    }

    /// Counts the outbound cap in `limiter`: through Redis, the cap holds across replicas.
    pub fn with_limiter(mut self, limiter: Arc<Limiter>) -> Self {
        self.shared.outbound = OutboundCap::new(limiter, self.shared.config.outbound_window);
        self
    }

    pub fn with_metrics(mut self, metrics: DeliveryMetrics) -> Self {
        self.shared.metrics = metrics;
        self
    }

    /// Runs until `shutdown` completes; then stops claiming, lets attempts in flight
    /// finish within the grace period and releases what is left for another process.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DispatchError> {
        let shared = Arc::new(self.shared);
        let config = &shared.config;
        let sampling = tokio::spawn(sample_queue(Arc::clone(&shared)));
        let permits = Arc::new(Semaphore::new(config.concurrency));
        let wake = shared.store.deliveries_created();
        let mut tasks = JoinSet::new();
        let mut store_backoff = Duration::from_millis(100);
        tokio::pin!(shutdown);
        tracing::info!(
            worker = %config.worker_id,
            concurrency = config.concurrency,
            "Dispatcher started"
        );

        loop {
            while tasks.try_join_next().is_some() {}
            // Armed before the claim, so a wake-up during the claim is not missed.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let free = permits.available_permits();
            let held_back = shared.outbound.held_back(Instant::now());
            shared.metrics.set_throttled_workspaces(held_back.len());
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let (skip_endpoints, mut skip_workspaces) = shared.full();
                skip_workspaces.extend(held_back);
                let request = ClaimRequest {
                    worker: &config.worker_id,
                    now: time::now(),
                    lease: config.lease,
                    limit: u32::try_from(free).unwrap_or(u32::MAX),
                    per_endpoint: config.per_endpoint,
                    per_workspace: config.per_workspace,
                    skip_endpoints: &skip_endpoints,
                    skip_workspaces: &skip_workspaces,
                };
                match shared.store.claim_deliveries(&request).await {
                    Ok(claimed) => {
                        store_backoff = Duration::from_millis(100);
                        claimed
                    }
                    Err(error) => {
                        let backoff_ms = store_backoff.as_millis() as u64;
                        tracing::warn!(%error, backoff_ms, "Claiming failed");
                        tokio::select! {
                            () = tokio::time::sleep(store_backoff) => {}
                            () = &mut shutdown => break,
                        }
                        store_backoff = (store_backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
            };
            let batch_was_full = free > 0 && claimed.len() == free;
            let mut overflow = Vec::new();
            for delivery in claimed {
                // The claim caps each endpoint and workspace per batch; what is already in
                // flight may leave less room, and what does not fit goes back at once.
                let Some(slot) = shared.take_slot(&permits, &delivery) else {
                    overflow.push(delivery.delivery_id);
                    continue;
                };
                // Over the cap the attempt is not made; the delivery waits in the queue.
                let store = shared.store.as_ref();
                if !shared.outbound.admit(store, &delivery.workspace_id).await {
                    shared.metrics.throttled(&delivery.workspace_id);
                    drop(slot);
                    overflow.push(delivery.delivery_id);
                    continue;
                }
                let turn = shared.turn(&delivery);
                let shared = Arc::clone(&shared);
                let span = tracing::info_span!(
                    "delivery",
                    workspace = %delivery.workspace_id,
                    endpoint = %delivery.endpoint_id,
                    event = %delivery.event_id,
                    queued = %delivery.delivery_id,
                    attempt = delivery.attempt,
                );
                tasks.spawn(
                    async move {
                        shared.deliver(delivery, turn).await;
                        drop(slot);
                    }
                    .instrument(span),
                );
            }
            let released = if overflow.is_empty() {
                Ok(0)
            } else {
                shared
                    .store
                    .release_deliveries(&config.worker_id, &overflow)
                    .await
            };
            if let Err(error) = released {
                tracing::warn!(%error, "Releasing deliveries over the caps failed");
            }
            if batch_was_full && overflow.is_empty() {
                continue;
            }
            // A paced endpoint whose turn comes before the next poll is claimed on time.
            let next_turn = shared.pacer.next_turn(Instant::now());
            let turn = sleep_until(next_turn);
            // A workspace held at its cap is claimed again as soon as a slot frees.
            let release = sleep_until(shared.outbound.next_release());
            tokio::select! {
                () = &mut notified => {
                    // Events arriving together are claimed together: one claim for a
                    // burst rather than one per event.
                    tokio::time::sleep(WAKE_SETTLE).await;
                }
                () = tokio::time::sleep(config.poll_interval) => {}
                () = turn => {}
                () = release => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = &mut shutdown => break,
            }
        }

        sampling.abort();
        tracing::info!(in_flight = tasks.len(), "Dispatcher stopping");
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let released = shared.store.release_claims(&config.worker_id).await?;
        tracing::info!(released, "Dispatcher stopped");
        Ok(())
    }
}

impl Shared {
    /// Endpoints not to claim for now: those with all their slots taken, and paced
    /// endpoints waiting for their turn.
    fn caps(&self) -> Caps {
        Caps {
            per_endpoint: self.config.per_endpoint,
            per_workspace: self.config.per_workspace,
        }
    }

    /// Endpoints and workspaces a claim should pass over: full, or waiting for their turn.
    fn full(&self) -> (Vec<String>, Vec<String>) {
        let resting = self.pacer.resting(Instant::now());
        let in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let full = in_flight.full_endpoints(self.caps());
        let endpoints = resting.into_iter().chain(full).collect();
        (endpoints, in_flight.full_workspaces(self.caps()))
    }

    fn take_slot(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        delivery: &ClaimedDelivery,
    ) -> Option<Slot> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !in_flight.try_take(&delivery.endpoint_id, &delivery.workspace_id, self.caps()) {
            return None;
        }
        let permit = Arc::clone(permits)
            .try_acquire_owned()
            .expect("no more deliveries are claimed than there are free permits");
        self.metrics.in_flight().inc();
        Some(Slot {
            shared: Arc::clone(self),
            endpoint_id: delivery.endpoint_id.clone(),
            workspace_id: delivery.workspace_id.clone(),
            _permit: permit,
        })
    }

    /// Takes a paced endpoint's next turn; taken as deliveries are claimed, the turns keep
    /// the order of the events.
    fn turn(&self, delivery: &ClaimedDelivery) -> Option<(Instant, Duration)> {
        let spacing = self.config.chat_pacing.spacing(delivery.format)?;
        let turn = self
            .pacer
            .reserve(&delivery.endpoint_id, spacing, Instant::now());
        Some((turn, spacing))
    }

    async fn deliver(&self, delivery: ClaimedDelivery, turn: Option<(Instant, Duration)>) {
        if let Some((turn, spacing)) = turn {
            self.pacer
                .wait_for(&delivery.endpoint_id, turn, spacing)
                .await;
        }
        let attempt_id = new_id(ids::ATTEMPT);
        let attempted_at = time::now();
        let exchange = match self
            .secrets
            .open(&delivery.endpoint_id, &delivery.sealed_secret)
        {
            Ok(secret) => {
                attempt::send(
                    &self.client,
                    &self.config.target_policy,
                    &delivery,
                    &secret,
                    &attempt_id,
                    attempted_at.timestamp(),
                )
                .await
            }
            Err(error) => {
                tracing::error!(%error, "Endpoint secret cannot be opened");
                attempt::Exchange {
                    status: None,
                    error: Some(format!("signing secret unavailable: {error}")),
                    excerpt: None,
                    duration: Duration::ZERO,
                    retry_after: None,
                }
            }
        };
        if delivery.format.is_chat()
            && exchange.status == Some(reqwest::StatusCode::TOO_MANY_REQUESTS)
        {
            let wait = exchange
                .retry_after
                .unwrap_or(outcome::CHAT_RATE_LIMIT_WAIT)
                .min(MAX_HOLD_OFF);
            self.pacer
                .hold_off(&delivery.endpoint_id, Instant::now() + wait);
        }
        let first_attempt_at = delivery.first_attempt_at.unwrap_or(attempted_at);
        let result = outcome::decide(
            &exchange,
            delivery.format,
            &self.config.schedule,
            delivery.attempt,
            first_attempt_at,
            time::now(),
            jitter(),
        );
        self.observe(&delivery, result, exchange.duration);
        match result {
            AttemptResult::Delivered => tracing::info!(
                delivery_id = %attempt_id,
                status = exchange.status.map(|s| s.as_u16()),
                duration_ms = exchange.duration.as_millis() as u64,
                "Delivered"
            ),
            AttemptResult::RateLimited(at) => tracing::info!(
                format = %delivery.format,
                retry_at = %time::rfc3339(at),
                "Rate limited by the chat service; the attempt is made again"
            ),
            _ => tracing::warn!(
                delivery_id = %attempt_id,
                status = exchange.status.map(|s| s.as_u16()),
                error = exchange.error.as_deref(),
                result = ?result,
                "Delivery attempt failed"
            ),
        }
        let record = AttemptRecord {
            delivery_id: delivery.delivery_id.clone(),
            workspace_id: delivery.workspace_id.clone(),
            endpoint_id: delivery.endpoint_id.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type,
            attempt_id,
            attempt: delivery.attempt,
            attempted_at,
            duration: exchange.duration,
            status_code: exchange.status.map(|s| s.as_u16()),
            error: exchange.error,
            response_excerpt: exchange.excerpt,
            result,
        };
        self.record(&record).await;
    }

    fn observe(&self, delivery: &ClaimedDelivery, result: AttemptResult, duration: Duration) {
        let metrics = &self.metrics;
        metrics.attempt(
            &delivery.workspace_id,
            delivery.event_type,
            result.outcome(),
            duration,
        );
        if result == AttemptResult::Delivered
            && let Some(created_at) = event_created_at(&delivery.payload)
        {
            let latency = (time::now() - created_at).to_std().unwrap_or_default();
            metrics.delivered_after(delivery.event_type, latency);
        }
    }

    /// Records an attempt, retrying briefly; if the store stays away the claim's lease
    /// expires and the delivery is attempted again, so nothing is lost.
    async fn record(&self, record: &AttemptRecord) {
        let mut wait = Duration::from_millis(100);
        for _ in 0..6 {
            match self.store.record_attempt(record).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "Recording the attempt failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        tracing::error!("Attempt not recorded; the delivery is retried when its claim expires");
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Measures the queue for its metrics until the dispatcher stops. Every replica measures
/// the same queue; the values agree.
async fn sample_queue(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(shared.config.queue_sample_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = time::now();
        match shared.store.queue_summary(now).await {
            Ok(summary) => shared.metrics.queue(&summary, now),
            Err(error) => tracing::warn!(%error, "Measuring the queue failed"),
        }
    }
}

/// When the event of an envelope was created, from its `created_at` field.
fn event_created_at(payload: &str) -> Option<Timestamp> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        created_at: std::borrow::Cow<'a, str>,
    }
    let envelope: Envelope = serde_json::from_str(payload).ok()?;
    time::parse_rfc3339(&envelope.created_at)
}

/// A uniform number in `[0, 1)` to spread retries.
fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
