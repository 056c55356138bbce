//! Workspaces owned by Kubernetes resources, and the in-place changes the operator makes.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::subscriptions::fetch_workspace;
use super::tenancy::workspace_from_row;
use super::tokens::{TOKEN_COLUMNS, token_from_row};
use super::webhooks::{ENDPOINT_COLUMNS, endpoint_from_row};
use super::*;
use crate::model::{ApiToken, FieldError, WebhookEndpoint, Workspace};
use crate::plan::Plan;
use crate::store::{EndpointUpdate, ManagedStore, Result, StoreError, WorkspaceSettings};

fn check_settings(plan: Plan, settings: &WorkspaceSettings) -> Result<()> {
    if settings.seats.is_some() && plan != Plan::Agency {
        return Err(FieldError::new("seats", "only agency workspaces have seats").into());
    }
    Ok(())
}

#[async_trait]
impl ManagedStore for DbStore {
    async fn managed_workspace(&self, owner_uid: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE managed_uid = $1")
            .bind(owner_uid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|row| workspace_from_row(row, ""))
            .transpose()
    }

    async fn create_managed_workspace(
        &self,
        owner_uid: &str,
        name: &str,
        plan: Plan,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace> {
        check_settings(plan, settings)?;
        self.insert_workspace(name, plan, settings, Some(owner_uid))
            .await
    }

    async fn update_workspace_settings(
        &self,
        workspace_id: &str,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace> {
        let mut tx = self.write().await?;
        let workspace = fetch_workspace(&mut tx, workspace_id).await?;
        check_settings(workspace.plan, settings)?;
        sqlx::query(
            "UPDATE workspaces SET seats = $1, requests_per_minute = $2, \
             webhook_events_per_minute = $3, suspended = $4 WHERE id = $5",
        )
        .bind(settings.seats.map(i64::from))
        .bind(settings.limits.requests_per_minute.map(i64::from))
        .bind(settings.limits.webhook_events_per_minute.map(i64::from))
        .bind(i64::from(settings.suspended))
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
        let updated = fetch_workspace(&mut tx, workspace_id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn token_by_public_id(&self, public_id: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.public_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(public_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn set_token_owner(&self, workspace_id: &str, token_id: &str, owner: &str) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE api_tokens SET managed_by = $1 WHERE workspace_id = $2 AND id = $3",
        )
        .bind(owner)
        .bind(workspace_id)
        .bind(token_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("token"));
        }
        Ok(())
    }

    async fn set_endpoint_owner(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        owner: &str,
    ) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET managed_by = $1 WHERE workspace_id = $2 AND id = $3",
        )
        .bind(owner)
        .bind(workspace_id)
        .bind(endpoint_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("endpoint"));
        }
        Ok(())
    }

    async fn update_endpoint(
        &self,
        workspace_id: &str,
        id: &str,
        update: &EndpointUpdate,
    ) -> Result<WebhookEndpoint> {
        let mut tx = self.write().await?;
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, events = $2, format = $3, \
             sealed_secret = COALESCE($4, sealed_secret), \
             disabled = COALESCE($5, disabled), \
             disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason ELSE NULL END \
             WHERE workspace_id = $7 AND id = $8 AND deleted_at IS NULL",
        )
        .bind(&update.url)
        .bind(json_text(&update.events))
        .bind(update.format.as_str())
        .bind(&update.sealed_secret)
        .bind(update.disabled.map(i64::from))
        .bind(update.disabled.map(i64::from))
        .bind(workspace_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("endpoint"));
        }
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let endpoint = endpoint_from_row(&row)?;
        tx.commit().await?;
        Ok(endpoint)
    }
}
