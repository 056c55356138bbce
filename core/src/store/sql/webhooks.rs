//! Webhook endpoints and their delivery log.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::event::EventType;
use crate::model::*;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};

use super::*;

pub(super) const ENDPOINT_COLUMNS: &str =
    "id, url, description, events, format, disabled, disabled_reason, created_at, managed_by";

pub(super) fn endpoint_from_row(row: &DbRow) -> Result<WebhookEndpoint> {
    let disabled: i64 = row.try_get("disabled")?;
    Ok(WebhookEndpoint {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: decode_json("events", row.try_get("events")?)?,
        format: decode_enum("format", row.try_get("format")?)?,
        disabled: disabled != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: from_micros(row.try_get("created_at")?),
        managed_by: row.try_get("managed_by")?,
    })
}

pub(super) fn attempt_from_row(row: &DbRow) -> Result<DeliveryAttempt> {
    let event: String = row.try_get("event_type")?;
    let attempt: i64 = row.try_get("attempt")?;
    let duration_ms: i64 = row.try_get("duration_ms")?;
    let status_code: Option<i64> = row.try_get("status_code")?;
    let succeeded: i64 = row.try_get("succeeded")?;
    let next_retry_at = optional_time(row.try_get("next_retry_at")?);
    let outcome = match row.try_get::<Option<String>, _>("outcome")? {
        Some(text) => decode_enum("outcome", text)?,
        None if succeeded != 0 => AttemptOutcome::Delivered,
        None if next_retry_at.is_some() => AttemptOutcome::RetryScheduled,
        None => AttemptOutcome::Failed,
    };
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
        outcome,
        next_retry_at,
    })
}

#[async_trait]
impl WebhookStore for DbStore {
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
            format: new.format,
            disabled: false,
            disabled_reason: None,
            created_at: time::now(),
            managed_by: None,
        };
        sqlx::query(
            "INSERT INTO webhook_endpoints \
             (id, workspace_id, url, description, events, format, sealed_secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&endpoint.id)
        .bind(workspace_id)
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(json_text(&endpoint.events))
        .bind(endpoint.format.as_str())
        .bind(&new.sealed_secret)
        .bind(to_micros(endpoint.created_at))
        .execute(&self.pool)
        .await?;
        Ok(endpoint)
    }

    async fn get_endpoint(&self, workspace_id: &str, id: &str) -> Result<Option<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL"
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
        let select = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE deleted_at IS NULL AND workspace_id = $1"
        );
        self.list_page(&select, "id", workspace_id, page, endpoint_from_row, |e| {
            &e.id
        })
        .await
    }

    async fn delete_endpoint(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let now = to_micros(time::now());
        let mut tx = self.write_in(workspace_id).await?;
        let deleted = sqlx::query(
            "UPDATE webhook_endpoints SET deleted_at = $1, disabled = 1 \
             WHERE workspace_id = $2 AND id = $3 AND deleted_at IS NULL",
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
            "UPDATE deliveries SET status = 'cancelled', finished_at = $1, claimed_by = NULL, \
             claimed_until = NULL WHERE endpoint_id = $2 AND status = 'pending'",
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
            "SELECT * FROM delivery_attempts WHERE endpoint_id = $1 AND id < $2 AND id >= \
             COALESCE((SELECT id FROM delivery_attempts WHERE endpoint_id = $1 \
                       ORDER BY id DESC LIMIT 1 OFFSET $3), '') \
             ORDER BY id DESC LIMIT $4",
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
}
