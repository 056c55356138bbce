//! The API audit log.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};

use super::*;
use crate::store::{AuditEntry, AuditFilter, AuditStore, Page, PageRequest, Result};
use crate::time::{from_micros, to_micros};

fn entry_from_row(row: &DbRow) -> Result<AuditEntry> {
    let status: i64 = row.try_get("status")?;
    Ok(AuditEntry {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        token_id: row.try_get("token_id")?,
        token_name: row.try_get("token_name")?,
        seat: row.try_get("seat")?,
        method: row.try_get("method")?,
        route: row.try_get("route")?,
        path: row.try_get("path")?,
        status: u16::try_from(status).unwrap_or_default(),
        at: from_micros(row.try_get("at")?),
    })
}

#[async_trait]
impl AuditStore for DbStore {
    async fn record_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO audit_log \
             (id, workspace_id, token_id, token_name, seat, method, route, path, status, at) ",
        );
        query.push_values(entries, |mut row, entry| {
            row.push_bind(&entry.id)
                .push_bind(&entry.workspace_id)
                .push_bind(&entry.token_id)
                .push_bind(&entry.token_name)
                .push_bind(&entry.seat)
                .push_bind(&entry.method)
                .push_bind(&entry.route)
                .push_bind(&entry.path)
                .push_bind(i64::from(entry.status))
                .push_bind(to_micros(entry.at));
        });
        let mut tx = self.write().await?;
        query.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let mut query = QueryBuilder::<Db>::new("SELECT * FROM audit_log WHERE workspace_id = ");
        query.push_bind(workspace_id);
        if let Some(token_id) = &filter.token_id {
            query.push(" AND token_id = ").push_bind(token_id.as_str());
        }
        if let Some(seat) = &filter.seat {
            query.push(" AND seat = ").push_bind(seat.as_str());
        }
        if let Some(after) = &page.after {
            query.push(" AND id < ").push_bind(after.as_str());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |e| &e.id))
    }
}
