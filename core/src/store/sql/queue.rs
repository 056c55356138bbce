//! The queue as a whole, for the metrics sampler.

use async_trait::async_trait;
use sqlx::Row;

use crate::store::*;
use crate::time::to_micros;

use super::*;

#[async_trait]
impl QueueStore for DbStore {
    async fn queue_summary(&self, now: Timestamp) -> Result<QueueSummary> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, \
             COALESCE(SUM(CASE WHEN next_attempt_at <= $1 THEN 1 ELSE 0 END), 0) AS due, \
             MIN(created_at) AS oldest_created, \
             MIN(CASE WHEN next_attempt_at <= $1 THEN next_attempt_at END) AS oldest_due \
             FROM deliveries WHERE status = 'pending'",
        )
        .bind(to_micros(now))
        .fetch_one(&self.pool)
        .await?;
        let count = |name| -> Result<u64> {
            Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or_default())
        };
        Ok(QueueSummary {
            pending: count("pending")?,
            due: count("due")?,
            oldest_pending_created_at: optional_time(row.try_get("oldest_created")?),
            oldest_due_at: optional_time(row.try_get("oldest_due")?),
        })
    }
}
