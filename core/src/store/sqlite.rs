//! The embedded SQLite backend: one file, WAL journal, writes in `BEGIN IMMEDIATE`
//! transactions so that several processes on one data directory wait for each other
//! instead of failing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection, Transaction};
use tokio::sync::Notify;

use super::{
    AttemptRecord, AttemptResult, ClaimRequest, ClaimedDelivery, DeliveryCounts, LeadFilter,
    NewEndpointRow, Page, PageRequest, Result, Store, StoreError, outbox,
};
use crate::event::{EventType, NewEvent};
use crate::ids::{self, new_id};
use crate::model::{
    Activity, ActivityType, ApiToken, Campaign, DeliveryAttempt, Direction, FieldError, Lead,
    LeadPatch, LeadWithHistory, Message, NewActivity, NewCampaign, NewLead, NewMessage, Note,
    Stage, TokenCredentials, WebhookEndpoint, Workspace, check_workspace_name, normalized_tags,
};
use crate::plan::Plan;
use crate::time::{self, Timestamp, from_micros, to_micros};
use crate::token::{IssuedToken, display_prefix};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    deliveries_created: Arc<Notify>,
}

type Tx = Transaction<'static, Sqlite>;

const LEAD_COLUMNS: &str = "id, campaign_id, name, linkedin_url, email, company, title, stage, \
     owner, tags, custom_fields, last_activity_at, created_at, updated_at";
const CAMPAIGN_COLUMNS: &str =
    "id, name, status, targeting, steps, ends_at, target_leads, created_at, completed_at";
const ENDPOINT_COLUMNS: &str =
    "id, url, description, events, disabled, disabled_reason, created_at";

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self> {
        if let Some(dir) = crate::config::sqlite_dir(url).filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(&dir).map_err(|e| {
                StoreError::Conflict(format!("cannot create {}: {e}", dir.display()))
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

fn optional_time(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(from_micros)
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
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

fn workspace_from_row(row: &SqliteRow) -> Result<Workspace> {
    let plan: String = row.try_get("plan")?;
    Ok(Workspace {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        plan: Plan::from_str(&plan).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

fn campaign_from_row(row: &SqliteRow) -> Result<Campaign> {
    let target_leads: Option<i64> = row.try_get("target_leads")?;
    Ok(Campaign {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: decode_enum("status", row.try_get("status")?)?,
        targeting: decode_json("targeting", row.try_get("targeting")?)?,
        steps: decode_json("steps", row.try_get("steps")?)?,
        ends_at: optional_time(row.try_get("ends_at")?),
        target_leads: target_leads.and_then(|n| u32::try_from(n).ok()),
        created_at: from_micros(row.try_get("created_at")?),
        completed_at: optional_time(row.try_get("completed_at")?),
    })
}

fn lead_from_row(row: &SqliteRow) -> Result<Lead> {
    let stage: String = row.try_get("stage")?;
    Ok(Lead {
        id: row.try_get("id")?,
        campaign_id: row.try_get("campaign_id")?,
        name: row.try_get("name")?,
        linkedin_url: row.try_get("linkedin_url")?,
        email: row.try_get("email")?,
        company: row.try_get("company")?,
        title: row.try_get("title")?,
        stage: Stage::from_str(&stage).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        owner: row.try_get("owner")?,
        tags: decode_json("tags", row.try_get("tags")?)?,
        custom_fields: decode_json("custom_fields", row.try_get("custom_fields")?)?,
        last_activity_at: optional_time(row.try_get("last_activity_at")?),
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

fn endpoint_from_row(row: &SqliteRow) -> Result<WebhookEndpoint> {
    let disabled: i64 = row.try_get("disabled")?;
    Ok(WebhookEndpoint {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: decode_json("events", row.try_get("events")?)?,
        disabled: disabled != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

fn attempt_from_row(row: &SqliteRow) -> Result<DeliveryAttempt> {
    let event: String = row.try_get("event_type")?;
    let attempt: i64 = row.try_get("attempt")?;
    let duration_ms: i64 = row.try_get("duration_ms")?;
    let status_code: Option<i64> = row.try_get("status_code")?;
    let succeeded: i64 = row.try_get("succeeded")?;
    Ok(DeliveryAttempt {
        delivery_id: row.try_get("id")?,
        event: EventType::from_str(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        event_id: row.try_get("event_id")?,
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        attempted_at: from_micros(row.try_get("attempted_at")?),
        duration_ms: u64::try_from(duration_ms).unwrap_or_default(),
        status_code: status_code.and_then(|code| u16::try_from(code).ok()),
        error: row.try_get("error")?,
        response_excerpt: row.try_get("response_excerpt")?,
        succeeded: succeeded != 0,
        next_retry_at: optional_time(row.try_get("next_retry_at")?),
    })
}

async fn fetch_lead(conn: &mut SqliteConnection, workspace_id: &str, id: &str) -> Result<Lead> {
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = ? AND id = ?");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref()
        .map(lead_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("lead"))
}

async fn save_lead(conn: &mut SqliteConnection, lead: &Lead) -> Result<()> {
    sqlx::query(
        "UPDATE leads SET stage = ?, owner = ?, tags = ?, custom_fields = ?, \
         last_activity_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(lead.stage.as_str())
    .bind(&lead.owner)
    .bind(json_text(&lead.tags))
    .bind(json_text(&lead.custom_fields))
    .bind(lead.last_activity_at.map(to_micros))
    .bind(to_micros(lead.updated_at))
    .bind(&lead.id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn replace_tags(conn: &mut SqliteConnection, workspace_id: &str, lead: &Lead) -> Result<()> {
    sqlx::query("DELETE FROM lead_tags WHERE lead_id = ?")
        .bind(&lead.id)
        .execute(&mut *conn)
        .await?;
    for tag in &lead.tags {
        sqlx::query("INSERT INTO lead_tags (lead_id, workspace_id, tag) VALUES (?, ?, ?)")
            .bind(&lead.id)
            .bind(workspace_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Attaches notes, messages and activity to leads, with one query per kind.
async fn with_history(
    conn: &mut SqliteConnection,
    leads: Vec<Lead>,
) -> Result<Vec<LeadWithHistory>> {
    if leads.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<LeadWithHistory> = leads
        .into_iter()
        .map(|lead| LeadWithHistory {
            lead,
            notes: vec![],
            messages: vec![],
            activities: vec![],
        })
        .collect();
    let position = |out: &[LeadWithHistory], lead_id: &str| {
        out.iter().position(|item| item.lead.id == lead_id)
    };
    let ids: Vec<String> = out.iter().map(|item| item.lead.id.clone()).collect();

    let rows = select_by_leads(conn, "id, lead_id, text, created_at", "lead_notes", &ids).await?;
    for row in rows {
        let lead_id: String = row.try_get("lead_id")?;
        if let Some(index) = position(&out, &lead_id) {
            out[index].notes.push(Note {
                id: row.try_get("id")?,
                text: row.try_get("text")?,
                created_at: from_micros(row.try_get("created_at")?),
            });
        }
    }

    let columns = "id, lead_id, direction, text, sent_at, created_at";
    for row in select_by_leads(conn, columns, "lead_messages", &ids).await? {
        let lead_id: String = row.try_get("lead_id")?;
        if let Some(index) = position(&out, &lead_id) {
            out[index].messages.push(Message {
                id: row.try_get("id")?,
                direction: decode_enum("direction", row.try_get("direction")?)?,
                text: row.try_get("text")?,
                sent_at: from_micros(row.try_get("sent_at")?),
                created_at: from_micros(row.try_get("created_at")?),
            });
        }
    }

    let columns = "id, lead_id, type, post_url, occurred_at, created_at";
    for row in select_by_leads(conn, columns, "lead_activities", &ids).await? {
        let lead_id: String = row.try_get("lead_id")?;
        if let Some(index) = position(&out, &lead_id) {
            out[index].activities.push(Activity {
                id: row.try_get("id")?,
                kind: decode_enum("type", row.try_get("type")?)?,
                post_url: row.try_get("post_url")?,
                occurred_at: from_micros(row.try_get("occurred_at")?),
                created_at: from_micros(row.try_get("created_at")?),
            });
        }
    }
    Ok(out)
}

async fn select_by_leads(
    conn: &mut SqliteConnection,
    columns: &str,
    table: &str,
    lead_ids: &[String],
) -> Result<Vec<SqliteRow>> {
    let mut query =
        QueryBuilder::<Sqlite>::new(format!("SELECT {columns} FROM {table} WHERE lead_id IN ("));
    let mut separated = query.separated(", ");
    for id in lead_ids {
        separated.push_bind(id);
    }
    query.push(") ORDER BY id");
    Ok(query.build().fetch_all(conn).await?)
}

/// Records an event and one pending delivery per endpoint subscribed to its type.
/// Returns how many deliveries were queued.
async fn insert_event(conn: &mut SqliteConnection, event: &NewEvent) -> Result<usize> {
    sqlx::query(
        "INSERT INTO events (id, workspace_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&event.id)
    .bind(&event.workspace_id)
    .bind(event.event_type.as_str())
    .bind(&event.payload)
    .bind(to_micros(event.created_at))
    .execute(&mut *conn)
    .await?;

    let endpoints = sqlx::query(
        "SELECT id, events FROM webhook_endpoints \
         WHERE workspace_id = ? AND disabled = 0 AND deleted_at IS NULL",
    )
    .bind(&event.workspace_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut queued = 0;
    for endpoint in endpoints {
        let events: Vec<EventType> = decode_json("events", endpoint.try_get("events")?)?;
        if !events.contains(&event.event_type) {
            continue;
        }
        let endpoint_id: String = endpoint.try_get("id")?;
        sqlx::query(
            "INSERT INTO deliveries \
             (id, workspace_id, event_id, endpoint_id, status, next_attempt_at, created_at) \
             VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(new_id(ids::DELIVERY))
        .bind(&event.workspace_id)
        .bind(&event.id)
        .bind(&endpoint_id)
        .bind(to_micros(event.created_at))
        .bind(to_micros(event.created_at))
        .execute(&mut *conn)
        .await?;
        queued += 1;
    }
    Ok(queued)
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

#[async_trait]
impl Store for SqliteStore {
    fn deliveries_created(&self) -> Arc<Notify> {
        Arc::clone(&self.deliveries_created)
    }

    async fn create_workspace(&self, name: &str, plan: Plan) -> Result<Workspace> {
        check_workspace_name(name)?;
        let workspace = Workspace {
            id: new_id(ids::WORKSPACE),
            name: name.to_owned(),
            plan,
            created_at: time::now(),
        };
        let inserted =
            sqlx::query("INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, ?, ?)")
                .bind(&workspace.id)
                .bind(&workspace.name)
                .bind(plan.as_str())
                .bind(to_micros(workspace.created_at))
                .execute(&self.pool)
                .await;
        match inserted {
            Ok(_) => Ok(workspace),
            Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict(format!(
                "a workspace named `{name}` already exists"
            ))),
            Err(error) => Err(error.into()),
        }
    }

    async fn find_workspace(&self, name_or_id: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = ? OR name = ?")
            .bind(name_or_id)
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workspace_from_row).transpose()
    }

    async fn workspace_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn create_token(
        &self,
        workspace_id: &str,
        name: &str,
        issued: &IssuedToken,
    ) -> Result<ApiToken> {
        crate::model::check_text("name", name, 200, false)?;
        let token = ApiToken {
            id: new_id(ids::TOKEN),
            workspace_id: workspace_id.to_owned(),
            name: name.to_owned(),
            prefix: display_prefix(&issued.public_id),
            created_at: time::now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (id, workspace_id, name, public_id, secret_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(workspace_id)
        .bind(name)
        .bind(&issued.public_id)
        .bind(&issued.secret_hash)
        .bind(to_micros(token.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(token),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::NotFound("workspace"))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn token_credentials(&self, public_id: &str) -> Result<Option<TokenCredentials>> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.secret_hash, w.id, w.name, w.plan, w.created_at \
             FROM api_tokens t JOIN workspaces w ON w.id = t.workspace_id \
             WHERE t.public_id = ? AND t.revoked_at IS NULL",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenCredentials {
            token_id: row.try_get("token_id")?,
            secret_hash: row.try_get("secret_hash")?,
            workspace: workspace_from_row(&row)?,
        }))
    }

    async fn create_campaign(&self, workspace_id: &str, new: &NewCampaign) -> Result<Campaign> {
        new.validate()?;
        let campaign = Campaign {
            id: new_id(ids::CAMPAIGN),
            name: new.name.trim().to_owned(),
            status: crate::model::CampaignStatus::Active,
            targeting: new.targeting.clone(),
            steps: new.steps.clone(),
            ends_at: new.ends_at,
            target_leads: new.target_leads,
            created_at: time::now(),
            completed_at: None,
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO campaigns (workspace_id, {CAMPAIGN_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        )))
        .bind(workspace_id)
        .bind(&campaign.id)
        .bind(&campaign.name)
        .bind(campaign.status.as_str())
        .bind(json_text(&campaign.targeting))
        .bind(json_text(&campaign.steps))
        .bind(campaign.ends_at.map(to_micros))
        .bind(campaign.target_leads.map(i64::from))
        .bind(to_micros(campaign.created_at))
        .execute(&self.pool)
        .await?;
        Ok(campaign)
    }

    async fn get_campaign(&self, workspace_id: &str, id: &str) -> Result<Option<Campaign>> {
        let sql =
            format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE workspace_id = ? AND id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(campaign_from_row).transpose()
    }

    async fn list_campaigns(
        &self,
        workspace_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Campaign>> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE workspace_id = ? AND id < ? \
             ORDER BY id DESC LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(page.after.as_deref().unwrap_or("\u{10ffff}"))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(campaign_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |c| &c.id))
    }

    async fn create_lead(&self, workspace_id: &str, new: &NewLead) -> Result<LeadWithHistory> {
        new.validate()?;
        let now = time::now();
        let lead = Lead {
            id: new_id(ids::LEAD),
            campaign_id: new.campaign_id.clone(),
            name: new.name.clone(),
            linkedin_url: new.linkedin_url.clone(),
            email: new.email.clone(),
            company: new.company.clone(),
            title: new.title.clone(),
            stage: new.stage.unwrap_or(Stage::New),
            owner: new.owner.clone(),
            tags: normalized_tags(&new.tags),
            custom_fields: new.custom_fields.clone(),
            last_activity_at: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.write().await?;
        if let Some(campaign_id) = &lead.campaign_id {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM campaigns WHERE workspace_id = ? AND id = ?")
                    .bind(workspace_id)
                    .bind(campaign_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.is_none() {
                return Err(
                    FieldError::new("campaign_id", "no such campaign in this workspace").into(),
                );
            }
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO leads (workspace_id, {LEAD_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )))
        .bind(workspace_id)
        .bind(&lead.id)
        .bind(&lead.campaign_id)
        .bind(&lead.name)
        .bind(&lead.linkedin_url)
        .bind(&lead.email)
        .bind(&lead.company)
        .bind(&lead.title)
        .bind(lead.stage.as_str())
        .bind(&lead.owner)
        .bind(json_text(&lead.tags))
        .bind(json_text(&lead.custom_fields))
        .bind(lead.last_activity_at.map(to_micros))
        .bind(to_micros(lead.created_at))
        .bind(to_micros(lead.updated_at))
        .execute(&mut *tx)
        .await?;
        replace_tags(&mut tx, workspace_id, &lead).await?;
        tx.commit().await?;
        Ok(LeadWithHistory {
            lead,
            notes: vec![],
            messages: vec![],
            activities: vec![],
        })
    }

    async fn get_lead(&self, workspace_id: &str, id: &str) -> Result<Option<LeadWithHistory>> {
        let mut conn = self.pool.acquire().await?;
        match fetch_lead(&mut conn, workspace_id, id).await {
            Ok(lead) => Ok(with_history(&mut conn, vec![lead]).await?.pop()),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn list_leads(
        &self,
        workspace_id: &str,
        filter: &LeadFilter,
        page: &PageRequest,
    ) -> Result<Page<LeadWithHistory>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = "
        ));
        query.push_bind(workspace_id);
        if let Some(stage) = filter.stage {
            query.push(" AND stage = ").push_bind(stage.as_str());
        }
        if let Some(owner) = &filter.owner {
            query.push(" AND owner = ").push_bind(owner.as_str());
        }
        if let Some(campaign_id) = &filter.campaign_id {
            query
                .push(" AND campaign_id = ")
                .push_bind(campaign_id.as_str());
        }
        if let Some(since) = filter.active_since {
            query
                .push(" AND last_activity_at >= ")
                .push_bind(to_micros(since));
        }
        if let Some(before) = filter.active_before {
            query
                .push(" AND last_activity_at < ")
                .push_bind(to_micros(before));
        }
        if let Some(tag) = &filter.tag {
            query
                .push(" AND id IN (SELECT lead_id FROM lead_tags WHERE workspace_id = ")
                .push_bind(workspace_id)
                .push(" AND tag = ")
                .push_bind(tag.as_str())
                .push(")");
        }
        if let Some(after) = &page.after {
            query.push(" AND id < ").push_bind(after.as_str());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);

        let mut conn = self.pool.acquire().await?;
        let rows = query.build().fetch_all(&mut *conn).await?;
        let leads = rows.iter().map(lead_from_row).collect::<Result<Vec<_>>>()?;
        let page = page_of(leads, page.limit, |lead| &lead.id);
        Ok(Page {
            items: with_history(&mut conn, page.items).await?,
            next_after: page.next_after,
        })
    }

    async fn update_lead(
        &self,
        workspace_id: &str,
        id: &str,
        patch: &LeadPatch,
    ) -> Result<LeadWithHistory> {
        patch.validate()?;
        let mut tx = self.write().await?;
        let mut lead = fetch_lead(&mut tx, workspace_id, id).await?;
        patch.apply(&mut lead);
        lead.updated_at = time::now();
        save_lead(&mut tx, &lead).await?;
        if patch.tags.is_some() {
            replace_tags(&mut tx, workspace_id, &lead).await?;
        }
        if let Some(text) = &patch.note {
            sqlx::query(
                "INSERT INTO lead_notes (id, lead_id, text, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(new_id(ids::NOTE))
            .bind(&lead.id)
            .bind(text)
            .bind(to_micros(lead.updated_at))
            .execute(&mut *tx)
            .await?;
        }
        let updated = with_history(&mut tx, vec![lead]).await?.pop();
        tx.commit().await?;
        updated.ok_or(StoreError::NotFound("lead"))
    }

    async fn add_message(
        &self,
        workspace_id: &str,
        lead_id: &str,
        new: &NewMessage,
    ) -> Result<(Message, Option<String>)> {
        new.validate()?;
        let now = time::now();
        let message = Message {
            id: new_id(ids::MESSAGE),
            direction: new.direction,
            text: new.text.clone(),
            sent_at: new.sent_at.unwrap_or(now),
            created_at: now,
        };
        let mut tx = self.write().await?;
        let mut lead = fetch_lead(&mut tx, workspace_id, lead_id).await?;
        sqlx::query(
            "INSERT INTO lead_messages (id, lead_id, direction, text, sent_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&message.id)
        .bind(&lead.id)
        .bind(enum_text(message.direction))
        .bind(&message.text)
        .bind(to_micros(message.sent_at))
        .bind(to_micros(message.created_at))
        .execute(&mut *tx)
        .await?;

        lead.last_activity_at = lead.last_activity_at.max(Some(message.sent_at));
        lead.updated_at = now;
        if message.direction == Direction::Inbound {
            lead.stage = lead.stage.advanced_to(Stage::Replied);
        }
        save_lead(&mut tx, &lead).await?;

        let (event_id, queued) = if message.direction == Direction::Inbound {
            let event = outbox::reply_event(workspace_id, &lead, &message);
            let queued = insert_event(&mut tx, &event).await?;
            (Some(event.id), queued)
        } else {
            (None, 0)
        };
        self.commit_with_deliveries(tx, queued).await?;
        Ok((message, event_id))
    }

    async fn add_activity(
        &self,
        workspace_id: &str,
        lead_id: &str,
        new: &NewActivity,
    ) -> Result<(Activity, String)> {
        new.validate()?;
        let now = time::now();
        let activity = Activity {
            id: new_id(ids::ACTIVITY),
            kind: new.kind,
            post_url: new.post_url.clone(),
            occurred_at: new.occurred_at.unwrap_or(now),
            created_at: now,
        };
        let mut tx = self.write().await?;
        let mut lead = fetch_lead(&mut tx, workspace_id, lead_id).await?;
        sqlx::query(
            "INSERT INTO lead_activities (id, lead_id, type, post_url, occurred_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&activity.id)
        .bind(&lead.id)
        .bind(enum_text(activity.kind))
        .bind(&activity.post_url)
        .bind(to_micros(activity.occurred_at))
        .bind(to_micros(activity.created_at))
        .execute(&mut *tx)
        .await?;

        lead.last_activity_at = lead.last_activity_at.max(Some(activity.occurred_at));
        lead.updated_at = now;
        if activity.kind == ActivityType::Connected {
            lead.stage = lead.stage.advanced_to(Stage::Connected);
        }
        save_lead(&mut tx, &lead).await?;

        let event = outbox::activity_event(workspace_id, &lead, &activity);
        let queued = insert_event(&mut tx, &event).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok((activity, event.id))
    }

    async fn create_endpoint(
        &self,
        workspace_id: &str,
        new: &NewEndpointRow,
    ) -> Result<WebhookEndpoint> {
        let endpoint = WebhookEndpoint {
            id: new.id.clone(),
            url: new.url.clone(),
            description: new.description.clone(),
            events: new.events.clone(),
            disabled: false,
            disabled_reason: None,
            created_at: time::now(),
        };
        sqlx::query(
            "INSERT INTO webhook_endpoints \
             (id, workspace_id, url, description, events, sealed_secret, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&endpoint.id)
        .bind(workspace_id)
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(json_text(&endpoint.events))
        .bind(&new.sealed_secret)
        .bind(to_micros(endpoint.created_at))
        .execute(&self.pool)
        .await?;
        Ok(endpoint)
    }

    async fn get_endpoint(&self, workspace_id: &str, id: &str) -> Result<Option<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    async fn list_endpoints(
        &self,
        workspace_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE workspace_id = ? AND deleted_at IS NULL AND id < ? ORDER BY id DESC LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(page.after.as_deref().unwrap_or("\u{10ffff}"))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(endpoint_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |e| &e.id))
    }

    async fn delete_endpoint(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let now = to_micros(time::now());
        let mut tx = self.write().await?;
        let deleted = sqlx::query(
            "UPDATE webhook_endpoints SET deleted_at = ?, disabled = 1 \
             WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(workspace_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE deliveries SET status = 'cancelled', finished_at = ?, claimed_by = NULL, \
             claimed_until = NULL WHERE endpoint_id = ? AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_attempts(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<DeliveryAttempt>> {
        if self
            .get_endpoint(workspace_id, endpoint_id)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound("webhook endpoint"));
        }
        let rows = sqlx::query(
            "SELECT * FROM delivery_attempts WHERE endpoint_id = ?1 AND id < ?2 AND id >= \
             COALESCE((SELECT id FROM delivery_attempts WHERE endpoint_id = ?1 \
                       ORDER BY id DESC LIMIT 1 OFFSET ?3), '') \
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(endpoint_id)
        .bind(page.after.as_deref().unwrap_or("\u{10ffff}"))
        .bind(i64::from(super::ATTEMPT_LOG_LENGTH) - 1)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(attempt_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |a| &a.delivery_id))
    }

    async fn delivery_counts(&self, workspace_id: &str) -> Result<DeliveryCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE workspace_id = ? GROUP BY status",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = DeliveryCounts::default();
        for row in rows {
            let status: String = row.try_get("status")?;
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or_default();
            match status.as_str() {
                "pending" => counts.pending = n,
                "succeeded" => counts.succeeded = n,
                "failed" => counts.failed = n,
                "cancelled" => counts.cancelled = n,
                other => return Err(StoreError::Corrupt(format!("delivery status `{other}`"))),
            }
        }
        Ok(counts)
    }

    async fn claim_deliveries(&self, request: &ClaimRequest<'_>) -> Result<Vec<ClaimedDelivery>> {
        let now = to_micros(request.now);
        let lease = i64::try_from(request.lease.as_micros()).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;

        // Per endpoint, only the earliest few due deliveries are eligible, so that one
        // endpoint's backlog cannot fill a whole claim.
        let mut query = QueryBuilder::<Sqlite>::new("UPDATE deliveries SET claimed_by = ");
        query
            .push_bind(request.worker)
            .push(", claimed_until = ")
            .push_bind(now.saturating_add(lease))
            .push(
                " WHERE id IN (SELECT id FROM (SELECT id, next_attempt_at, ROW_NUMBER() OVER \
                 (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rank \
                 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ",
            )
            .push_bind(now)
            .push(" AND (claimed_until IS NULL OR claimed_until < ")
            .push_bind(now)
            .push(")");
        if !request.skip_endpoints.is_empty() {
            query.push(" AND endpoint_id NOT IN (");
            let mut separated = query.separated(", ");
            for endpoint in request.skip_endpoints {
                separated.push_bind(endpoint.as_str());
            }
            query.push(")");
        }
        query
            .push(") WHERE rank <= ")
            .push_bind(i64::from(request.per_endpoint))
            .push(" ORDER BY next_attempt_at, id LIMIT ")
            .push_bind(i64::from(request.limit))
            .push(") RETURNING id");
        let claimed: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }

        let mut details = QueryBuilder::<Sqlite>::new(
            "SELECT d.id, d.workspace_id, d.endpoint_id, d.attempts, d.first_attempt_at, \
             e.url, e.sealed_secret, ev.id AS event_id, ev.type AS event_type, ev.payload \
             FROM deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             JOIN events ev ON ev.id = d.event_id WHERE d.id IN (",
        );
        let mut separated = details.separated(", ");
        for id in &claimed {
            separated.push_bind(id.as_str());
        }
        details.push(") ORDER BY d.next_attempt_at, d.id");
        let rows = details.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;

        rows.iter()
            .map(|row| {
                let event_type: String = row.try_get("event_type")?;
                let attempts: i64 = row.try_get("attempts")?;
                Ok(ClaimedDelivery {
                    delivery_id: row.try_get("id")?,
                    workspace_id: row.try_get("workspace_id")?,
                    endpoint_id: row.try_get("endpoint_id")?,
                    url: row.try_get("url")?,
                    sealed_secret: row.try_get("sealed_secret")?,
                    event_id: row.try_get("event_id")?,
                    event_type: EventType::from_str(&event_type)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    payload: row.try_get("payload")?,
                    attempt: u32::try_from(attempts)
                        .unwrap_or(u32::MAX)
                        .saturating_add(1),
                    first_attempt_at: optional_time(row.try_get("first_attempt_at")?),
                })
            })
            .collect()
    }

    async fn record_attempt(&self, record: &AttemptRecord) -> Result<()> {
        let attempted_at = to_micros(record.attempted_at);
        let mut tx = self.write().await?;
        let delivery = sqlx::query(
            "SELECT d.workspace_id, d.endpoint_id, d.event_id, ev.type AS event_type \
             FROM deliveries d JOIN events ev ON ev.id = d.event_id WHERE d.id = ?",
        )
        .bind(&record.delivery_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("delivery"))?;
        let endpoint_id: String = delivery.try_get("endpoint_id")?;

        let next_retry_at = match record.result {
            AttemptResult::RetryAt(at) => Some(to_micros(at)),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO delivery_attempts (id, delivery_id, workspace_id, endpoint_id, event_id, \
             event_type, attempt, attempted_at, duration_ms, status_code, error, \
             response_excerpt, succeeded, next_retry_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.attempt_id)
        .bind(&record.delivery_id)
        .bind(delivery.try_get::<String, _>("workspace_id")?)
        .bind(&endpoint_id)
        .bind(delivery.try_get::<String, _>("event_id")?)
        .bind(delivery.try_get::<String, _>("event_type")?)
        .bind(i64::from(record.attempt))
        .bind(attempted_at)
        .bind(i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX))
        .bind(record.status_code.map(i64::from))
        .bind(&record.error)
        .bind(&record.response_excerpt)
        .bind(i64::from(record.result == AttemptResult::Delivered))
        .bind(next_retry_at)
        .execute(&mut *tx)
        .await?;

        let (status, finished_at) = match record.result {
            AttemptResult::Delivered => ("succeeded", Some(attempted_at)),
            AttemptResult::RetryAt(_) => ("pending", None),
            AttemptResult::GaveUp => ("failed", Some(attempted_at)),
            AttemptResult::EndpointGone => ("cancelled", Some(attempted_at)),
        };
        // A delivery already finished elsewhere (a lease taken over) keeps its outcome.
        sqlx::query(
            "UPDATE deliveries SET status = ?, attempts = MAX(attempts, ?), \
             first_attempt_at = COALESCE(first_attempt_at, ?), next_attempt_at = ?, \
             finished_at = ?, claimed_by = NULL, claimed_until = NULL \
             WHERE id = ? AND status = 'pending'",
        )
        .bind(status)
        .bind(i64::from(record.attempt))
        .bind(attempted_at)
        .bind(next_retry_at)
        .bind(finished_at)
        .bind(&record.delivery_id)
        .execute(&mut *tx)
        .await?;

        if record.result == AttemptResult::EndpointGone {
            sqlx::query(
                "UPDATE webhook_endpoints SET disabled = 1, disabled_reason = 'gone' WHERE id = ?",
            )
            .bind(&endpoint_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE deliveries SET status = 'cancelled', finished_at = ?, claimed_by = NULL, \
                 claimed_until = NULL WHERE endpoint_id = ? AND status = 'pending'",
            )
            .bind(attempted_at)
            .bind(&endpoint_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_claims(&self, worker: &str) -> Result<u64> {
        let released = sqlx::query(
            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL \
             WHERE claimed_by = ? AND status = 'pending'",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }
}
