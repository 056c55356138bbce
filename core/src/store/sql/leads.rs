//! Campaigns, leads and what is reported about them.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use crate::ids::{self, new_id};
use crate::model::*;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};

use super::completion::{complete_due, complete_on_target};
use super::outbox::insert_event;
use super::*;

const LEAD_COLUMNS: &str = "id, campaign_id, name, linkedin_url, email, company, title, stage, \
     owner, tags, custom_fields, last_activity_at, created_at, updated_at";
pub(super) const CAMPAIGN_COLUMNS: &str =
    "id, name, status, targeting, steps, ends_at, target_leads, created_at, completed_at";

pub(super) fn campaign_from_row(row: &DbRow) -> Result<Campaign> {
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

pub(super) fn lead_from_row(row: &DbRow) -> Result<Lead> {
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

pub(super) async fn fetch_lead(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Lead> {
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = $1 AND id = $2");
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

pub(super) async fn save_lead(conn: &mut DbConnection, lead: &Lead) -> Result<()> {
    sqlx::query(
        "UPDATE leads SET stage = $1, owner = $2, tags = $3, custom_fields = $4, \
         last_activity_at = $5, updated_at = $6 WHERE id = $7",
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

pub(super) async fn replace_tags(
    conn: &mut DbConnection,
    workspace_id: &str,
    lead: &Lead,
) -> Result<()> {
    sqlx::query("DELETE FROM lead_tags WHERE lead_id = $1")
        .bind(&lead.id)
        .execute(&mut *conn)
        .await?;
    for tag in &lead.tags {
        sqlx::query("INSERT INTO lead_tags (lead_id, workspace_id, tag) VALUES ($1, $2, $3)")
            .bind(&lead.id)
            .bind(workspace_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Attaches notes, messages and activity to leads, with one query per kind.
pub(super) async fn with_history(
    conn: &mut DbConnection,
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

pub(super) async fn select_by_leads(
    conn: &mut DbConnection,
    columns: &str,
    table: &str,
    lead_ids: &[String],
) -> Result<Vec<DbRow>> {
    let mut query =
        QueryBuilder::<Db>::new(format!("SELECT {columns} FROM {table} WHERE lead_id IN ("));
    let mut separated = query.separated(", ");
    for id in lead_ids {
        separated.push_bind(id);
    }
    query.push(") ORDER BY id");
    Ok(query.build().fetch_all(conn).await?)
}

#[async_trait]
impl LeadStore for DbStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)"
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
            format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE workspace_id = $1 AND id = $2");
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
        let select = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE workspace_id = $1");
        self.list_page(&select, "id", workspace_id, page, campaign_from_row, |c| {
            &c.id
        })
        .await
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
        let mut tx = self.write_in(workspace_id).await?;
        if let Some(campaign_id) = &lead.campaign_id {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM campaigns WHERE workspace_id = $1 AND id = $2")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
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
        let queued = match &lead.campaign_id {
            Some(campaign_id) => {
                complete_on_target(&mut tx, workspace_id, campaign_id, now).await?
            }
            None => 0,
        };
        self.commit_with_deliveries(tx, queued).await?;
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
        let mut query = QueryBuilder::<Db>::new(format!(
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
        let mut tx = self.write_in(workspace_id).await?;
        let mut lead = fetch_lead(&mut tx, workspace_id, id).await?;
        patch.apply(&mut lead)?;
        lead.updated_at = time::now();
        save_lead(&mut tx, &lead).await?;
        if patch.tags.is_some() {
            replace_tags(&mut tx, workspace_id, &lead).await?;
        }
        if let Some(text) = &patch.note {
            sqlx::query(
                "INSERT INTO lead_notes (id, lead_id, text, created_at) VALUES ($1, $2, $3, $4)",
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
        let mut tx = self.write_in(workspace_id).await?;
        let mut lead = fetch_lead(&mut tx, workspace_id, lead_id).await?;
        sqlx::query(
            "INSERT INTO lead_messages (id, lead_id, direction, text, sent_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            let event = reply_event(workspace_id, &lead, &message);
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
        let mut tx = self.write_in(workspace_id).await?;
        let mut lead = fetch_lead(&mut tx, workspace_id, lead_id).await?;
        sqlx::query(
            "INSERT INTO lead_activities (id, lead_id, type, post_url, occurred_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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

        let event = activity_event(workspace_id, &lead, &activity);
        let queued = insert_event(&mut tx, &event).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok((activity, event.id))
    }

    async fn complete_due_campaigns(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Swept<CampaignCompletion>>> {
        let mut tx = self.write().await?;
        let (completed, queued) = complete_due(&mut tx, now, limit).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok(completed)
    }
}
