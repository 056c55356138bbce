//! Workspaces and API tokens.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::Row;

use crate::ids::{self, new_id};
use crate::model::*;
use crate::plan::Plan;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};

use super::subscriptions::insert_subscription_event;
use super::*;

/// A workspace from its columns, named with `prefix` where a join renamed them.
pub(super) fn workspace_from_row(row: &DbRow, prefix: &str) -> Result<Workspace> {
    let column = |name: &str| format!("{prefix}{name}");
    let plan: String = row.try_get(column("plan").as_str())?;
    Ok(Workspace {
        id: row.try_get(column("id").as_str())?,
        name: row.try_get(column("name").as_str())?,
        plan: Plan::from_str(&plan).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        seats: optional_u32(row.try_get(column("seats").as_str())?),
        limits: LimitOverrides {
            requests_per_minute: optional_u32(row.try_get(column("requests_per_minute").as_str())?),
            webhook_events_per_minute: optional_u32(
                row.try_get(column("webhook_events_per_minute").as_str())?,
            ),
        },
        created_at: from_micros(row.try_get(column("created_at").as_str())?),
        cancelled_at: optional_time(row.try_get(column("cancelled_at").as_str())?),
        suspended: row.try_get::<i64, _>(column("suspended").as_str())? != 0,
    })
}

#[async_trait]
impl TenancyStore for DbStore {
    async fn create_workspace(&self, name: &str, plan: Plan) -> Result<Workspace> {
        let settings = WorkspaceSettings {
            seats: (plan == Plan::Agency).then_some(DEFAULT_AGENCY_SEATS),
            ..WorkspaceSettings::default()
        };
        self.insert_workspace(name, plan, &settings, None).await
    }

    async fn find_workspace(&self, name_or_id: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1 OR name = $2")
            .bind(name_or_id)
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|row| workspace_from_row(row, ""))
            .transpose()
    }

    async fn set_limits(&self, workspace_id: &str, limits: LimitOverrides) -> Result<Workspace> {
        let row = sqlx::query(
            "UPDATE workspaces SET requests_per_minute = $1, webhook_events_per_minute = $2 \
             WHERE id = $3 RETURNING *",
        )
        .bind(limits.requests_per_minute.map(i64::from))
        .bind(limits.webhook_events_per_minute.map(i64::from))
        .bind(workspace_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("workspace"))?;
        workspace_from_row(&row, "")
    }

    async fn workspace_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

impl DbStore {
    /// Inserts a workspace with its `subscription.created`, owned by a resource when
    /// `managed_uid` is given.
    pub(super) async fn insert_workspace(
        &self,
        name: &str,
        plan: Plan,
        settings: &WorkspaceSettings,
        managed_uid: Option<&str>,
    ) -> Result<Workspace> {
        check_workspace_name(name)?;
        let workspace = Workspace {
            id: new_id(ids::WORKSPACE),
            name: name.to_owned(),
            plan,
            seats: settings.seats,
            limits: settings.limits,
            created_at: time::now(),
            cancelled_at: None,
            suspended: settings.suspended,
        };
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO workspaces (id, name, plan, seats, requests_per_minute, \
             webhook_events_per_minute, suspended, managed_uid, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&workspace.id)
        .bind(&workspace.name)
        .bind(plan.as_str())
        .bind(workspace.seats.map(i64::from))
        .bind(workspace.limits.requests_per_minute.map(i64::from))
        .bind(workspace.limits.webhook_events_per_minute.map(i64::from))
        .bind(i64::from(workspace.suspended))
        .bind(managed_uid)
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
}
