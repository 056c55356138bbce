//! Workspaces and API tokens.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::ids::{self, new_id};
use crate::model::*;
use crate::plan::Plan;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};
use crate::token::{IssuedToken, display_prefix};

use super::subscriptions::insert_subscription_event;
use super::*;

pub(super) fn workspace_from_row(row: &SqliteRow) -> Result<Workspace> {
    let plan: String = row.try_get("plan")?;
    Ok(Workspace {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        plan: Plan::from_str(&plan).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: from_micros(row.try_get("created_at")?),
        cancelled_at: optional_time(row.try_get("cancelled_at")?),
    })
}

#[async_trait]
impl TenancyStore for SqliteStore {
    async fn create_workspace(&self, name: &str, plan: Plan) -> Result<Workspace> {
        check_workspace_name(name)?;
        let workspace = Workspace {
            id: new_id(ids::WORKSPACE),
            name: name.to_owned(),
            plan,
            created_at: time::now(),
            cancelled_at: None,
        };
        let mut tx = self.write().await?;
        let inserted =
            sqlx::query("INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, ?, ?)")
                .bind(&workspace.id)
                .bind(&workspace.name)
                .bind(plan.as_str())
                .bind(to_micros(workspace.created_at))
                .execute(&mut *tx)
                .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict(format!(
                    "a workspace named `{name}` already exists"
                )));
            }
            Err(error) => return Err(error.into()),
        }
        let event = subscription_created_event(&workspace, None, workspace.created_at);
        let queued = insert_subscription_event(&mut tx, &event, [plan, plan]).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok(workspace)
    }

    async fn find_workspace(&self, name_or_id: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = ? OR name = ?")
            .bind(name_or_id)
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workspace_from_row).transpose()
    }

    async fn workspace_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn create_token(
        &self,
        workspace_id: &str,
        name: &str,
        issued: &IssuedToken,
    ) -> Result<ApiToken> {
        crate::model::check_text("name", name, 200, false)?;
        let token = ApiToken {
            id: new_id(ids::TOKEN),
            workspace_id: workspace_id.to_owned(),
            name: name.to_owned(),
            prefix: display_prefix(&issued.public_id),
            created_at: time::now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (id, workspace_id, name, public_id, secret_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(workspace_id)
        .bind(name)
        .bind(&issued.public_id)
        .bind(&issued.secret_hash)
        .bind(to_micros(token.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(token),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::NotFound("workspace"))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn token_credentials(&self, public_id: &str) -> Result<Option<TokenCredentials>> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.secret_hash, \
             w.id, w.name, w.plan, w.created_at, w.cancelled_at \
             FROM api_tokens t JOIN workspaces w ON w.id = t.workspace_id \
             WHERE t.public_id = ? AND t.revoked_at IS NULL",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenCredentials {
            token_id: row.try_get("token_id")?,
            secret_hash: row.try_get("secret_hash")?,
            workspace: workspace_from_row(&row)?,
        }))
    }
}
