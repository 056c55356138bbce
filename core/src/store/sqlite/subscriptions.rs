//! A workspace's plan, its cancellation and its members, each change with its event.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::event::{EventType, NewEvent};
use crate::model::*;
use crate::plan::Plan;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};

use super::outbox::{insert_event, insert_event_row};
use super::tenancy::workspace_from_row;
use super::*;

/// Records a subscription event. Its deliveries are queued only when the plan before or
/// after the change includes billing events, so that an agency also hears of its own
/// downgrade. Returns how many deliveries were queued.
pub(super) async fn insert_subscription_event(
    conn: &mut SqliteConnection,
    event: &NewEvent,
    plans: [Plan; 2],
) -> Result<usize> {
    if plans.iter().any(|plan| plan.includes_subscription_events()) {
        insert_event(conn, event).await
    } else {
        insert_event_row(conn, event).await.map(|()| 0)
    }
}

pub(super) async fn fetch_workspace(conn: &mut SqliteConnection, id: &str) -> Result<Workspace> {
    let row = sqlx::query("SELECT * FROM workspaces WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref()
        .map(|row| workspace_from_row(row, ""))
        .transpose()?
        .ok_or(StoreError::NotFound("workspace"))
}

fn refuse_if_cancelled(workspace: &Workspace) -> Result<()> {
    match workspace.cancelled_at {
        Some(_) => Err(StoreError::Conflict(format!(
            "workspace `{}` is cancelled and accepts no changes",
            workspace.name
        ))),
        None => Ok(()),
    }
}

fn member_from_row(row: &SqliteRow) -> Result<Member> {
    Ok(Member {
        email: row.try_get("email")?,
        role: decode_enum("role", row.try_get("role")?)?,
        added_at: from_micros(row.try_get("added_at")?),
    })
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn change_plan(&self, workspace_id: &str, plan: Plan) -> Result<PlanChange> {
        let mut tx = self.write().await?;
        let mut workspace = fetch_workspace(&mut tx, workspace_id).await?;
        refuse_if_cancelled(&workspace)?;
        let previous_plan = workspace.plan;
        if previous_plan == plan {
            return Ok(PlanChange {
                workspace,
                previous_plan,
                event_id: None,
            });
        }

        workspace.plan = plan;
        sqlx::query("UPDATE workspaces SET plan = ? WHERE id = ?")
            .bind(plan.as_str())
            .bind(&workspace.id)
            .execute(&mut *tx)
            .await?;
        let event = subscription_created_event(&workspace, Some(previous_plan), time::now());
        let queued = insert_subscription_event(&mut tx, &event, [previous_plan, plan]).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok(PlanChange {
            workspace,
            previous_plan,
            event_id: Some(event.id),
        })
    }

    async fn cancel_workspace(&self, workspace_id: &str) -> Result<Cancellation> {
        let mut tx = self.write().await?;
        let mut workspace = fetch_workspace(&mut tx, workspace_id).await?;
        if workspace.cancelled_at.is_some() {
            return Ok(Cancellation {
                workspace,
                event_id: None,
            });
        }

        let now = time::now();
        workspace.cancelled_at = Some(now);
        sqlx::query("UPDATE workspaces SET cancelled_at = ? WHERE id = ?")
            .bind(to_micros(now))
            .bind(&workspace.id)
            .execute(&mut *tx)
            .await?;
        let event = subscription_cancelled_event(&workspace, now);
        let plans = [workspace.plan, workspace.plan];
        let queued = insert_subscription_event(&mut tx, &event, plans).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok(Cancellation {
            workspace,
            event_id: Some(event.id),
        })
    }

    async fn list_members(&self, workspace_id: &str) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT email, role, added_at FROM workspace_members WHERE workspace_id = ? \
             ORDER BY added_at, email",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    async fn add_member(&self, workspace_id: &str, new: &NewMember) -> Result<(Member, String)> {
        new.validate()?;
        let member = Member {
            email: normalized_email(&new.email),
            role: new.role,
            added_at: time::now(),
        };
        let mut tx = self.write().await?;
        let workspace = fetch_workspace(&mut tx, workspace_id).await?;
        refuse_if_cancelled(&workspace)?;
        let inserted = sqlx::query(
            "INSERT INTO workspace_members (workspace_id, email, role, added_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&workspace.id)
        .bind(&member.email)
        .bind(member.role.as_str())
        .bind(to_micros(member.added_at))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict(format!(
                    "{} is already a member of workspace `{}`",
                    member.email, workspace.name
                )));
            }
            Err(error) => return Err(error.into()),
        }

        let event = member_event(
            &workspace,
            &member,
            EventType::TeamMemberAdded,
            member.added_at,
        );
        let queued = insert_event(&mut tx, &event).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok((member, event.id))
    }

    async fn remove_member(&self, workspace_id: &str, email: &str) -> Result<(Member, String)> {
        let mut tx = self.write().await?;
        let workspace = fetch_workspace(&mut tx, workspace_id).await?;
        refuse_if_cancelled(&workspace)?;
        let row = sqlx::query(
            "DELETE FROM workspace_members WHERE workspace_id = ? AND email = ? \
             RETURNING email, role, added_at",
        )
        .bind(&workspace.id)
        .bind(normalized_email(email))
        .fetch_optional(&mut *tx)
        .await?;
        let member = row
            .as_ref()
            .map(member_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("member"))?;

        let event = member_event(
            &workspace,
            &member,
            EventType::TeamMemberRemoved,
            time::now(),
        );
        let queued = insert_event(&mut tx, &event).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok((member, event.id))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::ids;

    async fn open() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/store.db", dir.path().display());
        let store = SqliteStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    /// The events recorded for a workspace, oldest first, as (type, data).
    async fn recorded(store: &SqliteStore, workspace_id: &str) -> Vec<(String, Value)> {
        let rows =
            sqlx::query("SELECT type, payload FROM events WHERE workspace_id = ? ORDER BY id")
                .bind(workspace_id)
                .fetch_all(&store.pool)
                .await
                .unwrap();
        rows.iter()
            .map(|row| {
                let payload: String = row.get("payload");
                let envelope: Value = serde_json::from_str(&payload).unwrap();
                (row.get("type"), envelope["data"].clone())
            })
            .collect()
    }

    async fn delivery_count(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_workspace_records_subscription_created_without_a_previous_plan() {
        let (store, _dir) = open().await;
        let workspace = store.create_workspace("acme", Plan::Agency).await.unwrap();
        let events = recorded(&store, &workspace.id).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let (kind, data) = &events[0];
        assert_eq!(kind, "subscription.created");
        assert_eq!(data["workspace"]["id"], workspace.id.as_str());
        assert_eq!(data["workspace"]["plan"], "agency");
        assert_eq!(data["previous_plan"], Value::Null);
        assert_eq!(
            delivery_count(&store).await,
            0,
            "no endpoint could subscribe yet"
        );
    }

    #[tokio::test]
    async fn billing_events_a_plan_does_not_deliver_are_still_recorded() {
        let (store, _dir) = open().await;
        let workspace = store.create_workspace("acme", Plan::Pro).await.unwrap();
        let row = NewEndpointRow {
            id: ids::new_id(ids::ENDPOINT),
            url: "http://127.0.0.1:9/hook".into(),
            description: None,
            events: vec![EventType::SubscriptionCreated],
            sealed_secret: "v1:sealed".into(),
            format: crate::model::EndpointFormat::Json,
        };
        store.create_endpoint(&workspace.id, &row).await.unwrap();
        store
            .change_plan(&workspace.id, Plan::Starter)
            .await
            .unwrap();
        let events = recorded(&store, &workspace.id).await;
        let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, ["subscription.created", "subscription.created"]);
        assert_eq!(events[1].1["previous_plan"], "pro");
        assert_eq!(delivery_count(&store).await, 0);
    }
}
