//! Campaign completion: at once when a new lead reaches a campaign's target, and in the
//! scheduler's sweep when an end date passes. Each completion is an `UPDATE` conditional on
//! `status = 'active'`, so a campaign completes, and emits `campaign.completed`, once.

use sqlx::{AssertSqlSafe, Row};

use crate::model::*;
use crate::store::*;
use crate::time::to_micros;

use super::leads::{CAMPAIGN_COLUMNS, campaign_from_row};
use super::outbox::insert_event;
use super::*;

async fn lead_count(conn: &mut DbConnection, workspace_id: &str, id: &str) -> Result<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM leads WHERE workspace_id = $1 AND campaign_id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// Records the event of a campaign an `UPDATE ... RETURNING` just completed. Returns the
/// completion and how many deliveries were queued.
async fn emit(
    conn: &mut DbConnection,
    workspace_id: String,
    campaign: Campaign,
) -> Result<(Swept<CampaignCompletion>, usize)> {
    let leads = lead_count(conn, &workspace_id, &campaign.id).await?;
    let reached = campaign
        .target_leads
        .is_some_and(|target| leads >= u64::from(target));
    let reason = if reached {
        CompletionReason::TargetReached
    } else {
        CompletionReason::EndDate
    };
    let event = campaign_completed_event(&workspace_id, &campaign, reason, leads);
    let queued = insert_event(conn, &event).await?;
    let completion = CampaignCompletion {
        campaign,
        reason,
        leads,
    };
    let swept = Swept {
        workspace_id,
        item: completion,
        event_id: event.id,
    };
    Ok((swept, queued))
}

/// Completes the campaign if its leads now reach its target; called in the transaction
/// that added a lead to it. Returns how many deliveries were queued.
pub(super) async fn complete_on_target(
    conn: &mut DbConnection,
    workspace_id: &str,
    campaign_id: &str,
    now: Timestamp,
) -> Result<usize> {
    let sql = format!(
        "UPDATE campaigns SET status = 'completed', completed_at = $1 \
         WHERE workspace_id = $2 AND id = $3 AND status = 'active' \
           AND target_leads IS NOT NULL \
           AND target_leads <= \
               (SELECT COUNT(*) FROM leads WHERE workspace_id = $2 AND campaign_id = $3) \
         RETURNING {CAMPAIGN_COLUMNS}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(to_micros(now))
        .bind(workspace_id)
        .bind(campaign_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(0);
    };
    let campaign = campaign_from_row(&row)?;
    let (swept, queued) = emit(conn, workspace_id.to_owned(), campaign).await?;
    tracing::info!(
        workspace = %workspace_id,
        campaign = %campaign_id,
        leads = swept.item.leads,
        event = %swept.event_id,
        "Campaign reached its target"
    );
    Ok(queued)
}

/// Completes up to `limit` active campaigns whose end date passed or whose target is
/// reached. Returns them and how many deliveries were queued.
pub(super) async fn complete_due(
    conn: &mut DbConnection,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<Swept<CampaignCompletion>>, usize)> {
    let sql = format!(
        "UPDATE campaigns SET status = 'completed', completed_at = $1 \
         WHERE status = 'active' AND id IN (\
            SELECT c.id FROM campaigns c WHERE c.status = 'active' AND (\
                (c.ends_at IS NOT NULL AND c.ends_at <= $1) \
                OR (c.target_leads IS NOT NULL AND c.target_leads <= (\
                    SELECT COUNT(*) FROM leads l \
                    WHERE l.workspace_id = c.workspace_id AND l.campaign_id = c.id))) \
            ORDER BY c.id LIMIT $2) \
         RETURNING workspace_id, {CAMPAIGN_COLUMNS}"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    let mut completed = Vec::with_capacity(rows.len());
    let mut queued = 0;
    for row in rows {
        let workspace_id: String = row.try_get("workspace_id")?;
        let campaign = campaign_from_row(&row)?;
        let (swept, count) = emit(conn, workspace_id, campaign).await?;
        queued += count;
        completed.push(swept);
    }
    Ok((completed, queued))
}
