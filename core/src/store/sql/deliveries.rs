//! Claiming due deliveries and recording their attempts.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use tokio::sync::Notify;

use crate::event::EventType;
use crate::store::*;
use crate::time::to_micros;

use super::*;

/// Text as a column can hold it: a receiver may answer with U+0000, which PostgreSQL
/// refuses, and an attempt that cannot be recorded would be made again and again.
fn storable_text(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

/// A claimed delivery from the columns a backend's claim returns.
fn claimed_from_row(row: &DbRow) -> Result<ClaimedDelivery> {
    let event_type: String = row.try_get("event_type")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(ClaimedDelivery {
        delivery_id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        url: row.try_get("url")?,
        format: decode_enum("format", row.try_get("format")?)?,
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
}

#[async_trait]
impl DeliveryStore for DbStore {
    fn deliveries_created(&self) -> Arc<Notify> {
        self.wake_handle()
    }

    async fn delivery_counts(&self, workspace_id: &str) -> Result<DeliveryCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE workspace_id = $1 GROUP BY status",
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
        let rows = self.claim(request).await?;
        rows.iter().map(claimed_from_row).collect()
    }

    async fn record_attempt(&self, record: &AttemptRecord) -> Result<()> {
        let attempted_at = to_micros(record.attempted_at);
        let endpoint_id = &record.endpoint_id;
        let mut tx = self.write().await?;
        let next_retry_at = match record.result {
            AttemptResult::RetryAt(at) | AttemptResult::RateLimited(at) => Some(to_micros(at)),
            _ => None,
        };
        // A rate-limited attempt is made again under the same number.
        let counted = match record.result {
            AttemptResult::RateLimited(_) => record.attempt.saturating_sub(1),
            _ => record.attempt,
        };
        sqlx::query(
            "INSERT INTO delivery_attempts (id, delivery_id, workspace_id, endpoint_id, event_id, \
             event_type, attempt, attempted_at, duration_ms, status_code, error, \
             response_excerpt, succeeded, next_retry_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&record.attempt_id)
        .bind(&record.delivery_id)
        .bind(&record.workspace_id)
        .bind(endpoint_id)
        .bind(&record.event_id)
        .bind(record.event_type.as_str())
        .bind(i64::from(record.attempt))
        .bind(attempted_at)
        .bind(i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX))
        .bind(record.status_code.map(i64::from))
        .bind(record.error.as_deref().map(storable_text))
        .bind(record.response_excerpt.as_deref().map(storable_text))
        .bind(i64::from(record.result == AttemptResult::Delivered))
        .bind(next_retry_at)
        .bind(enum_text(record.result.outcome()))
        .execute(&mut *tx)
        .await?;

        let (status, finished_at) = match record.result {
            AttemptResult::Delivered => ("succeeded", Some(attempted_at)),
            AttemptResult::RetryAt(_) | AttemptResult::RateLimited(_) => ("pending", None),
            AttemptResult::GaveUp => ("failed", Some(attempted_at)),
            AttemptResult::EndpointGone => ("cancelled", Some(attempted_at)),
        };
        // A delivery already finished elsewhere (a lease taken over) keeps its outcome.
        sqlx::query(
            "UPDATE deliveries SET status = $1, \
             attempts = CASE WHEN attempts > $2 THEN attempts ELSE $2 END, \
             first_attempt_at = COALESCE(first_attempt_at, $3), next_attempt_at = $4, \
             finished_at = $5, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(i64::from(counted))
        .bind(attempted_at)
        .bind(next_retry_at)
        .bind(finished_at)
        .bind(&record.delivery_id)
        .execute(&mut *tx)
        .await?;

        if record.result == AttemptResult::EndpointGone {
            sqlx::query(
                "UPDATE webhook_endpoints SET disabled = 1, disabled_reason = 'gone' WHERE id = $1",
            )
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE deliveries SET status = 'cancelled', finished_at = $1, claimed_by = NULL, \
                 claimed_until = NULL WHERE endpoint_id = $2 AND status = 'pending'",
            )
            .bind(attempted_at)
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_claims(&self, worker: &str) -> Result<u64> {
        let released = sqlx::query(
            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL \
             WHERE claimed_by = $1 AND status = 'pending'",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }

    async fn release_deliveries(&self, worker: &str, delivery_ids: &[String]) -> Result<u64> {
        if delivery_ids.is_empty() {
            return Ok(0);
        }
        let mut query = QueryBuilder::<Db>::new(
            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ",
        );
        query.push_bind(worker).push(" AND id IN (");
        let mut separated = query.separated(", ");
        for id in delivery_ids {
            separated.push_bind(id.as_str());
        }
        query.push(")");
        Ok(query.build().execute(&self.pool).await?.rows_affected())
    }
}
