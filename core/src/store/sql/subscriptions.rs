//! A workspace's plan, its cancellation and its members, each change with its event.

use async_trait::async_trait;
use sqlx::Row;

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
    conn: &mut DbConnection,
    event: &NewEvent,
    plans: [Plan; 2],
) -> Result<usize> {
    if plans.iter().any(|plan| plan.includes_subscription_events()) {
        insert_event(conn, event).await
    } else {
        insert_event_row(conn, event).await.map(|()| 0)
    }
}

pub(super) async fn fetch_workspace(conn: &mut DbConnection, id: &str) -> Result<Workspace> {
    let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
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

fn member_from_row(row: &DbRow) -> Result<Member> {
    Ok(Member {
        email: row.try_get("email")?,
        role: decode_enum("role", row.try_get("role")?)?,
        added_at: from_micros(row.try_get("added_at")?),
    })
}

#[async_trait]
impl SubscriptionStore for DbStore {
    async fn change_plan(&self, workspace_id: &str, plan: Plan) -> Result<PlanChange> {
        let mut tx = self.write_in(workspace_id).await?;
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
        sqlx::query("UPDATE workspaces SET plan = $1 WHERE id = $2")
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
        let mut tx = self.write_in(workspace_id).await?;
        let mut workspace = fetch_workspace(&mut tx, workspace_id).await?;
        if workspace.cancelled_at.is_some() {
            return Ok(Cancellation {
                workspace,
                event_id: None,
            });
        }

        let now = time::now();
        workspace.cancelled_at = Some(now);
        sqlx::query("UPDATE workspaces SET cancelled_at = $1 WHERE id = $2")
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
            "SELECT email, role, added_at FROM workspace_members WHERE workspace_id = $1 \
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
        let mut tx = self.write_in(workspace_id).await?;
        let workspace = fetch_workspace(&mut tx, workspace_id).await?;
        refuse_if_cancelled(&workspace)?;
        let inserted = sqlx::query(
            "INSERT INTO workspace_members (workspace_id, email, role, added_at) \
             VALUES ($1, $2, $3, $4)",
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
        let mut tx = self.write_in(workspace_id).await?;
        let workspace = fetch_workspace(&mut tx, workspace_id).await?;
        refuse_if_cancelled(&workspace)?;
        let row = sqlx::query(
            "DELETE FROM workspace_members WHERE workspace_id = $1 AND email = $2 \
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
