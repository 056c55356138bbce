//! Claiming due deliveries. SQLite has one writer at a time, so a claim is a single
//! ranked update inside the write lock.

use sqlx::{QueryBuilder, Sqlite};

use super::*;
use crate::time::to_micros;

impl SqliteStore {
    /// Marks the earliest due deliveries as held by `request.worker` and returns what
    /// their attempts need, in the order they fell due.
    pub(super) async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<SqliteRow>> {
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
                 (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rank, \
                 ROW_NUMBER() OVER (PARTITION BY workspace_id ORDER BY next_attempt_at, id) \
                 AS workspace_rank \
                 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ",
            )
            .push_bind(now)
            .push(" AND (claimed_until IS NULL OR claimed_until < ")
            .push_bind(now)
            .push(")");
        for (column, skipped) in [
            ("endpoint_id", request.skip_endpoints),
            ("workspace_id", request.skip_workspaces),
        ] {
            if !skipped.is_empty() {
                query.push(format!(" AND {column} NOT IN ("));
                let mut separated = query.separated(", ");
                for id in skipped {
                    separated.push_bind(id.as_str());
                }
                query.push(")");
            }
        }
        query
            .push(") WHERE rank <= ")
            .push_bind(i64::from(request.per_endpoint))
            .push(" AND workspace_rank <= ")
            .push_bind(i64::from(request.per_workspace))
            .push(" ORDER BY next_attempt_at, id LIMIT ")
            .push_bind(i64::from(request.limit))
            .push(") RETURNING id");
        let claimed: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rows = claimed_details(&mut tx, &claimed).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// What an attempt needs of the claimed deliveries, in the order they fell due.
async fn claimed_details(tx: &mut Tx, claimed: &[String]) -> Result<Vec<SqliteRow>> {
    let mut details = QueryBuilder::<Sqlite>::new(
        "SELECT d.id, d.workspace_id, d.endpoint_id, d.attempts, d.first_attempt_at, \
         e.url, e.format, e.sealed_secret, \
         ev.id AS event_id, ev.type AS event_type, ev.payload \
         FROM deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         JOIN events ev ON ev.id = d.event_id WHERE d.id IN (",
    );
    let mut separated = details.separated(", ");
    for id in claimed {
        separated.push_bind(id.as_str());
    }
    details.push(") ORDER BY d.next_attempt_at, d.id");
    Ok(details.build().fetch_all(&mut **tx).await?)
}
