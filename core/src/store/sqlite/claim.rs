//! Claiming due deliveries. SQLite has one writer at a time, so a claim is a single
//! ranked update inside the write lock.

use sqlx::{QueryBuilder, Sqlite};

use super::*;
use crate::time::to_micros;

impl SqliteStore {
    /// Marks the earliest due deliveries as held by `request.worker`, in a transaction
    /// the caller finishes.
    pub(super) async fn claim(&self, request: &ClaimRequest<'_>) -> Result<(Tx, Vec<String>)> {
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
        let claimed = query.build_query_scalar().fetch_all(&mut *tx).await?;
        Ok((tx, claimed))
    }
}
