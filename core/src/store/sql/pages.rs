//! Lists of a workspace's rows, newest first, a page at a time.

use super::*;

impl DbStore {
    /// One page of a workspace's rows, newest first. `select` is the query up to and
    /// including its conditions, with `$1` for the workspace id; `id_column` is the
    /// column the rows are ordered and paged by.
    pub(super) async fn list_page<T>(
        &self,
        select: &str,
        id_column: &str,
        workspace_id: &str,
        page: &PageRequest,
        from_row: fn(&DbRow) -> Result<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<Page<T>> {
        let sql = format!("{select} AND {id_column} < $2 ORDER BY {id_column} DESC LIMIT $3");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(page.after.as_deref().unwrap_or("\u{10ffff}"))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, id))
    }
}
