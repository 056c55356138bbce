//! The store: the single source of truth for runtime state, behind one interface with
//! one implementation per database. Every change that produces an event writes the event
//! and one delivery per subscribed endpoint in the same transaction (the outbox), so an
//! accepted change never loses its event.

/// Declares, in a SQL backend's module, the query modules every SQL backend shares
/// (`store/sql`, written with numbered `$n` parameters). Each backend compiles them against
/// its own `DbStore`, `Db`, `DbRow`, `DbConnection` and `Tx`.
macro_rules! shared_queries {
    () => {
        #[path = "../sql/audit.rs"]
        mod audit;
        #[path = "../sql/completion.rs"]
        mod completion;
        #[path = "../sql/deliveries.rs"]
        mod deliveries;
        #[path = "../sql/idempotency.rs"]
        mod idempotency;
        #[path = "../sql/leads.rs"]
        mod leads;
        #[path = "../sql/managed.rs"]
        mod managed;
        #[path = "../sql/outbox.rs"]
        mod outbox;
        #[path = "../sql/pages.rs"]
        mod pages;
        #[path = "../sql/posts.rs"]
        mod posts;
        #[path = "../sql/queue.rs"]
        mod queue;
        #[path = "../sql/subscriptions.rs"]
        mod subscriptions;
        #[path = "../sql/tenancy.rs"]
        mod tenancy;
        #[path = "../sql/tokens.rs"]
        mod tokens;
        #[path = "../sql/watchtower.rs"]
        mod watchtower;
        #[path = "../sql/webhooks.rs"]
        mod webhooks;
    };
}

mod access;
mod events;
mod managed;
mod outbox;
pub mod postgres;
mod rows;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::event::EventType;
use crate::model::{
    Activity, AttemptOutcome, Campaign, DeliveryAttempt, EndpointFormat, FieldError, LeadPatch,
    LeadWithHistory, LimitOverrides, Member, Message, NewActivity, NewCampaign, NewLead, NewMember,
    NewMessage, NewSignal, Signal, SignalType, Stage, WebhookEndpoint, Workspace,
};
use crate::model::{CompletionReason, NewPost, Post, PostResult, PostStatus};
use crate::plan::Plan;
use crate::time::Timestamp;

pub use access::{
    AuditEntry, AuditFilter, AuditStore, IDEMPOTENCY_IN_PROGRESS_LIMIT, IdempotencyClaim,
    IdempotencyStore, TokenStore,
};
pub use events::{
    member_event, subscription_cancelled_event, subscription_created_event, watchtower_alert_event,
};
pub use managed::{EndpointUpdate, ManagedStore, WorkspaceSettings};
pub use outbox::{activity_event, reply_event};
pub use outbox::{campaign_completed_event, post_failed_event, post_published_event};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database could not be reached or stayed busy: worth retrying later,
    /// not a fault of the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => true,
            StoreError::Database(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|code| is_transient_code(&code))
            }
            _ => false,
        }
    }
}

/// Database error codes that say "not now" rather than "not this request".
fn is_transient_code(code: &str) -> bool {
    // SQLITE_BUSY and its extended codes: another writer held the lock too long.
    let sqlite_busy = code == "5" || code.parse::<u32>().is_ok_and(|c| c & 0xff == 5);
    // PostgreSQL: connection exceptions (08…), a server shutting down or starting
    // (57P01–57P03), too many connections (53300), and transactions to be retried
    // (40001 serialization failure, 40P01 deadlock).
    let postgres_transient = code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
        );
    sqlite_busy || postgres_transient
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// The id of the last item of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to continue after, when more items follow.
    pub next_after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub stage: Option<Stage>,
    pub tag: Option<String>,
    pub owner: Option<String>,
    pub campaign_id: Option<String>,
    /// Last activity at or after this time.
    pub active_since: Option<Timestamp>,
    /// Last activity before this time.
    pub active_before: Option<Timestamp>,
}

/// A webhook endpoint to insert; its secret is already sealed for its id.
#[derive(Debug, Clone)]
pub struct NewEndpointRow {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<EventType>,
    pub format: EndpointFormat,
    pub sealed_secret: String,
}

/// Which due deliveries a dispatcher wants.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub worker: &'a str,
    pub now: Timestamp,
    /// How long the claim holds before another dispatcher may take the delivery over.
    pub lease: Duration,
    pub limit: u32,
    /// At most this many deliveries of one endpoint in one claim.
    pub per_endpoint: u32,
    /// At most this many deliveries of one workspace in one claim.
    pub per_workspace: u32,
    /// Endpoints whose slots are full.
    pub skip_endpoints: &'a [String],
    /// Workspaces whose slots are full.
    pub skip_workspaces: &'a [String],
}

/// A delivery claimed for one attempt, with everything needed to make it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery_id: String,
    pub workspace_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub format: EndpointFormat,
    pub sealed_secret: String,
    pub event_id: String,
    pub event_type: EventType,
    /// The envelope bytes, exactly as they are signed and sent.
    pub payload: String,
    /// The number of this attempt, 1 for the first.
    pub attempt: u32,
    pub first_attempt_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    RetryAt(Timestamp),
    /// A chat service asked to slow down (429): the same attempt number is tried again
    /// at this time, without counting against the retry schedule.
    RateLimited(Timestamp),
    /// The schedule is exhausted; the delivery is failed for good.
    GaveUp,
    /// The receiver answered 410: the endpoint is disabled and its queue cancelled.
    EndpointGone,
}

impl AttemptResult {
    pub fn outcome(self) -> AttemptOutcome {
        match self {
            AttemptResult::Delivered => AttemptOutcome::Delivered,
            AttemptResult::RetryAt(_) => AttemptOutcome::RetryScheduled,
            AttemptResult::GaveUp => AttemptOutcome::Failed,
            AttemptResult::EndpointGone => AttemptOutcome::EndpointGone,
            AttemptResult::RateLimited(_) => AttemptOutcome::RateLimited,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    /// The delivery's workspace, endpoint and event, as its claim gave them.
    pub workspace_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub attempt_id: String,
    pub attempt: u32,
    pub attempted_at: Timestamp,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub result: AttemptResult,
}

/// Counts of a workspace's deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// A post's result as recorded, with the event it emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResult {
    pub post: Post,
    /// The event of the result; for a repeated report, the one the first report emitted.
    pub event_id: String,
    /// Whether the post already held this very result, so nothing changed.
    pub repeated: bool,
}

/// Something a scheduler sweep changed in a workspace, and the event it emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Swept<T> {
    pub workspace_id: String,
    pub item: T,
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignCompletion {
    pub campaign: Campaign,
    pub reason: CompletionReason,
    /// The campaign's leads when it completed.
    pub leads: u64,
}

/// The most recent attempts of an endpoint that its delivery log shows.
pub const ATTEMPT_LOG_LENGTH: u32 = 100;

/// Workspaces and API tokens.
#[async_trait]
pub trait TenancyStore: Send + Sync + 'static {
    /// Creates a workspace and records `subscription.created`; no endpoint can have
    /// subscribed yet, so the event stays in the store without deliveries.
    async fn create_workspace(&self, name: &str, plan: Plan) -> Result<Workspace>;
    /// By id (`ws_…`) or by name.
    async fn find_workspace(&self, name_or_id: &str) -> Result<Option<Workspace>>;
    async fn workspace_count(&self) -> Result<u64>;
    /// Replaces a workspace's limit overrides; `None` falls back to its plan's limit.
    async fn set_limits(&self, workspace_id: &str, limits: LimitOverrides) -> Result<Workspace>;
}

/// Campaigns, leads, and the messages and activity reported about leads.
#[async_trait]
pub trait LeadStore: Send + Sync + 'static {
    async fn create_campaign(&self, workspace_id: &str, new: &NewCampaign) -> Result<Campaign>;
    async fn get_campaign(&self, workspace_id: &str, id: &str) -> Result<Option<Campaign>>;
    async fn list_campaigns(
        &self,
        workspace_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Campaign>>;

    /// Adds a lead. A lead that brings its campaign to `target_leads` completes the
    /// campaign, with its `campaign.completed`, in the same transaction.
    async fn create_lead(&self, workspace_id: &str, new: &NewLead) -> Result<LeadWithHistory>;
    async fn get_lead(&self, workspace_id: &str, id: &str) -> Result<Option<LeadWithHistory>>;
    async fn list_leads(
        &self,
        workspace_id: &str,
        filter: &LeadFilter,
        page: &PageRequest,
    ) -> Result<Page<LeadWithHistory>>;
    async fn update_lead(
        &self,
        workspace_id: &str,
        id: &str,
        patch: &LeadPatch,
    ) -> Result<LeadWithHistory>;
    /// Records a message; an inbound one moves the lead to `replied` and emits
    /// `lead.replied`, whose event id is returned.
    async fn add_message(
        &self,
        workspace_id: &str,
        lead_id: &str,
        new: &NewMessage,
    ) -> Result<(Message, Option<String>)>;
    /// Records an activity and emits `lead.connected` or `lead.opened`.
    async fn add_activity(
        &self,
        workspace_id: &str,
        lead_id: &str,
        new: &NewActivity,
    ) -> Result<(Activity, String)>;
    /// Completes active campaigns whose `ends_at` is at or before `now` or whose leads
    /// reached `target_leads`, at most `limit` of them, each with one
    /// `campaign.completed`. A campaign completes once, however many callers sweep at once.
    /// Adding a lead completes its campaign at once; this sweep is the backstop.
    async fn complete_due_campaigns(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Swept<CampaignCompletion>>>;
}

/// Scheduled LinkedIn posts and their publish results.
#[async_trait]
pub trait PostStore: Send + Sync + 'static {
    async fn create_post(&self, workspace_id: &str, new: &NewPost) -> Result<Post>;
    async fn get_post(&self, workspace_id: &str, id: &str) -> Result<Option<Post>>;
    async fn list_posts(
        &self,
        workspace_id: &str,
        status: Option<PostStatus>,
        page: &PageRequest,
    ) -> Result<Page<Post>>;
    /// Records the result the outreach engine reports, emitting `post.published` or
    /// `post.failed`. On a post that already has a result, the identical result is answered
    /// with the post as it is; any other is a conflict naming the post's status.
    async fn record_post_result(
        &self,
        workspace_id: &str,
        id: &str,
        result: &PostResult,
    ) -> Result<RecordedResult>;
    /// Fails the posts still scheduled for `grace` or longer before `now` as `not_run`, at
    /// most `limit` of them, each with one `post.failed`. A post is failed once, however
    /// many callers sweep at once.
    async fn fail_unrun_posts(
        &self,
        now: Timestamp,
        grace: Duration,
        limit: u32,
    ) -> Result<Vec<Swept<Post>>>;
}

/// Webhook endpoints and their delivery log.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_endpoint(
        &self,
        workspace_id: &str,
        new: &NewEndpointRow,
    ) -> Result<WebhookEndpoint>;
    async fn get_endpoint(&self, workspace_id: &str, id: &str) -> Result<Option<WebhookEndpoint>>;
    async fn list_endpoints(
        &self,
        workspace_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpoint>>;
    /// Deletes an endpoint and cancels its queued deliveries; false when there was none.
    async fn delete_endpoint(&self, workspace_id: &str, id: &str) -> Result<bool>;
    /// The endpoint's most recent attempts, newest first, within the last
    /// [`ATTEMPT_LOG_LENGTH`].
    async fn list_attempts(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<DeliveryAttempt>>;
}

/// The delivery queue, as dispatchers work it.
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Signalled after a commit that created deliveries, so dispatchers wake at once.
    fn deliveries_created(&self) -> Arc<Notify>;

    async fn delivery_counts(&self, workspace_id: &str) -> Result<DeliveryCounts>;
    async fn claim_deliveries(&self, request: &ClaimRequest<'_>) -> Result<Vec<ClaimedDelivery>>;
    async fn record_attempt(&self, record: &AttemptRecord) -> Result<()>;
    /// Releases a worker's claims, for a graceful stop or a restart of a single process.
    async fn release_claims(&self, worker: &str) -> Result<u64>;
    /// Releases some of a worker's claims, which it took but has no room for.
    async fn release_deliveries(&self, worker: &str, delivery_ids: &[String]) -> Result<u64>;
}

/// The delivery queue as a whole, for the queue metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Deliveries not finished yet: due now or waiting for a retry.
    pub pending: u64,
    /// Pending deliveries whose next attempt is due.
    pub due: u64,
    /// When the oldest pending delivery was created.
    pub oldest_pending_created_at: Option<Timestamp>,
    /// The earliest next attempt among due deliveries: how far behind the queue runs.
    pub oldest_due_at: Option<Timestamp>,
}

/// The queue across every workspace, sampled for metrics.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    async fn queue_summary(&self, now: Timestamp) -> Result<QueueSummary>;
}

/// A plan change as it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    /// The workspace on its new plan.
    pub workspace: Workspace,
    pub previous_plan: Plan,
    /// The `subscription.created` event; `None` when the plan was already the new one.
    pub event_id: Option<String>,
}

/// A cancellation as it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub workspace: Workspace,
    /// The `subscription.cancelled` event; `None` when the workspace was already cancelled.
    pub event_id: Option<String>,
}

/// A workspace's subscription (its plan and its cancellation) and its members. Each change
/// writes its event in the same transaction. A cancelled workspace accepts no further
/// change (a conflict); repeating a plan or a cancellation changes and emits nothing, so
/// that a reconciler can apply its desired state again and again.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Moves the workspace to `plan` and emits `subscription.created` naming the previous
    /// plan.
    async fn change_plan(&self, workspace_id: &str, plan: Plan) -> Result<PlanChange>;
    /// Cancels the workspace, which stops its tokens, and emits `subscription.cancelled`.
    async fn cancel_workspace(&self, workspace_id: &str) -> Result<Cancellation>;

    /// The members, in the order they were added.
    async fn list_members(&self, workspace_id: &str) -> Result<Vec<Member>>;
    /// Adds a member and emits `team.member_added`, whose event id is returned. An email
    /// that is already a member's is a conflict.
    async fn add_member(&self, workspace_id: &str, new: &NewMember) -> Result<(Member, String)>;
    /// Removes the member with this email and emits `team.member_removed`.
    async fn remove_member(&self, workspace_id: &str, email: &str) -> Result<(Member, String)>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalFilter {
    pub kind: Option<SignalType>,
    pub lead_id: Option<String>,
    /// Recorded at or after this time.
    pub since: Option<Timestamp>,
}

/// Watchtower signals.
#[async_trait]
pub trait WatchtowerStore: Send + Sync + 'static {
    /// Records a signal and emits `watchtower.alert` with it and its lead; returns the
    /// event id. A `lead_id` not in the workspace is refused as a field error.
    async fn record_signal(&self, workspace_id: &str, new: &NewSignal) -> Result<(Signal, String)>;
    async fn get_signal(&self, workspace_id: &str, id: &str) -> Result<Option<Signal>>;
    /// Newest first.
    async fn list_signals(
        &self,
        workspace_id: &str,
        filter: &SignalFilter,
        page: &PageRequest,
    ) -> Result<Page<Signal>>;
}

/// The access concerns of a backend.
pub trait AccessStore: TenancyStore + TokenStore + AuditStore + IdempotencyStore {}

impl<T: TenancyStore + TokenStore + AuditStore + IdempotencyStore> AccessStore for T {}

/// Everything a backend provides; each concern is its own trait.
pub trait Store:
    AccessStore + ActivityStore + WebhookStore + DeliveryStore + QueueStore + ManagedStore
{
}

impl<T> Store for T where
    T: AccessStore + ActivityStore + WebhookStore + DeliveryStore + QueueStore + ManagedStore
{
}

/// What a workspace does and what happens to it: subscription, leads, posts, signals.
pub trait ActivityStore: SubscriptionStore + LeadStore + PostStore + WatchtowerStore {}

impl<T: SubscriptionStore + LeadStore + PostStore + WatchtowerStore> ActivityStore for T {}

/// Opens the store a database URL names and applies pending migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::open(url).await?;
        store.migrate().await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PgStore::open(url).await?;
        store.migrate().await?;
        return Ok(Arc::new(store));
    }
    Err(StoreError::Conflict(format!(
        "unsupported database URL scheme in `{}`; use sqlite:// or postgres://",
        url.split(':').next().unwrap_or_default()
    )))
}
