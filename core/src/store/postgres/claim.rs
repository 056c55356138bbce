//! Claiming due deliveries without waiting on other dispatchers: the due rows are read
//! with `FOR UPDATE SKIP LOCKED`, so rows another claim is taking are passed over rather
//! than waited for, and the per-endpoint and per-workspace caps are applied to what was
//! locked. Rows locked but not taken are free again when the transaction ends.

use super::*;
use crate::time::to_micros;

/// How many due rows one claim looks at, per delivery it may take: enough that a few
/// busy endpoints at the head of the queue leave room for others in the same claim.
const SCAN_FACTOR: i64 = 4;

impl PgStore {
    /// Marks the earliest due deliveries as held by `request.worker` and returns what
    /// their attempts need, in the order they fell due: one statement, one round trip.
    pub(super) async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<PgRow>> {
        let now = to_micros(request.now);
        let lease = i64::try_from(request.lease.as_micros()).unwrap_or(i64::MAX);
        let limit = i64::from(request.limit);
        let rows = sqlx::query(
            "WITH due AS ( \
                SELECT id, endpoint_id, workspace_id, next_attempt_at FROM deliveries \
                WHERE status = 'pending' AND next_attempt_at <= $1 \
                  AND (claimed_until IS NULL OR claimed_until < $1) \
                  AND NOT (endpoint_id = ANY($2)) AND NOT (workspace_id = ANY($3)) \
                ORDER BY next_attempt_at, id LIMIT $4 \
                FOR UPDATE SKIP LOCKED), \
             by_endpoint AS ( \
                SELECT id, workspace_id, next_attempt_at, ROW_NUMBER() OVER \
                    (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rank \
                FROM due), \
             by_workspace AS ( \
                SELECT id, next_attempt_at, ROW_NUMBER() OVER \
                    (PARTITION BY workspace_id ORDER BY next_attempt_at, id) AS rank \
                FROM by_endpoint WHERE rank <= $5), \
             picked AS ( \
                SELECT id FROM by_workspace WHERE rank <= $6 \
                ORDER BY next_attempt_at, id LIMIT $7), \
             claimed AS ( \
                UPDATE deliveries d SET claimed_by = $8, claimed_until = $9 \
                FROM picked WHERE d.id = picked.id \
                RETURNING d.id, d.workspace_id, d.endpoint_id, d.event_id, d.attempts, \
                    d.first_attempt_at, d.next_attempt_at) \
             SELECT c.id, c.workspace_id, c.endpoint_id, c.attempts, c.first_attempt_at, \
                e.url, e.format, e.sealed_secret, \
                ev.id AS event_id, ev.type AS event_type, ev.payload \
             FROM claimed c \
             JOIN webhook_endpoints e ON e.id = c.endpoint_id \
             JOIN events ev ON ev.id = c.event_id \
             ORDER BY c.next_attempt_at, c.id",
        )
        .bind(now)
        .bind(request.skip_endpoints)
        .bind(request.skip_workspaces)
        .bind(limit.saturating_mul(SCAN_FACTOR))
        .bind(i64::from(request.per_endpoint))
        .bind(i64::from(request.per_workspace))
        .bind(limit)
        .bind(request.worker)
        .bind(now.saturating_add(lease))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
