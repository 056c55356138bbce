//! Idempotency keys: the first request with a key runs; repeats get its response.

use async_trait::async_trait;
use sqlx::Row;

use super::*;
use crate::store::{IDEMPOTENCY_IN_PROGRESS_LIMIT, IdempotencyClaim, IdempotencyStore, Result};
use crate::time::{Timestamp, to_micros};

#[async_trait]
impl IdempotencyStore for DbStore {
    async fn claim_idempotency_key(
        &self,
        workspace_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyClaim> {
        let abandoned_before = now - IDEMPOTENCY_IN_PROGRESS_LIMIT;
        let mut tx = self.write_in(workspace_id).await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 \
             AND (created_at < $3 OR (status IS NULL AND created_at < $4))",
        )
        .bind(workspace_id)
        .bind(key)
        .bind(to_micros(expired_before))
        .bind(to_micros(abandoned_before))
        .execute(&mut *tx)
        .await?;
        let existing = sqlx::query(
            "SELECT fingerprint, status, response_body FROM idempotency_keys \
             WHERE workspace_id = $1 AND key = $2",
        )
        .bind(workspace_id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let claim = match existing {
            Some(row) => {
                let stored: String = row.try_get("fingerprint")?;
                let status: Option<i64> = row.try_get("status")?;
                match status {
                    _ if stored != fingerprint => IdempotencyClaim::Mismatch,
                    None => IdempotencyClaim::InProgress,
                    Some(status) => IdempotencyClaim::Replay {
                        status: u16::try_from(status).unwrap_or_default(),
                        body: row
                            .try_get::<Option<Vec<u8>>, _>("response_body")?
                            .unwrap_or_default(),
                    },
                }
            }
            None => {
                sqlx::query(
                    "INSERT INTO idempotency_keys (workspace_id, key, fingerprint, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(workspace_id)
                .bind(key)
                .bind(fingerprint)
                .bind(to_micros(now))
                .execute(&mut *tx)
                .await?;
                IdempotencyClaim::Fresh
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn complete_idempotency_key(
        &self,
        workspace_id: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, response_body = $2 \
             WHERE workspace_id = $3 AND key = $4",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(workspace_id)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_idempotency_key(&self, workspace_id: &str, key: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(workspace_id)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
