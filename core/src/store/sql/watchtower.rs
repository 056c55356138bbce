//! Watchtower signals and their alerts.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use crate::ids::{self, new_id};
use crate::model::*;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};

use super::leads::fetch_lead;
use super::outbox::insert_event;
use super::*;

const SIGNAL_COLUMNS: &str =
    "id, type, lead_id, company, title, detail, url, occurred_at, created_at";

fn signal_from_row(row: &DbRow) -> Result<Signal> {
    Ok(Signal {
        id: row.try_get("id")?,
        kind: decode_enum("type", row.try_get("type")?)?,
        lead_id: row.try_get("lead_id")?,
        company: row.try_get("company")?,
        title: row.try_get("title")?,
        detail: row.try_get("detail")?,
        url: row.try_get("url")?,
        occurred_at: from_micros(row.try_get("occurred_at")?),
        created_at: from_micros(row.try_get("created_at")?),
    })
}

#[async_trait]
impl WatchtowerStore for DbStore {
    async fn record_signal(&self, workspace_id: &str, new: &NewSignal) -> Result<(Signal, String)> {
        new.validate()?;
        let now = time::now();
        let signal = Signal {
            id: new_id(ids::SIGNAL),
            kind: new.kind,
            lead_id: new.lead_id.clone(),
            company: new.company.clone(),
            title: new.title.clone(),
            detail: new.detail.clone(),
            url: new.url.clone(),
            occurred_at: new.occurred_at.unwrap_or(now),
            created_at: now,
        };
        let mut tx = self.write_in(workspace_id).await?;
        let lead = match &signal.lead_id {
            None => None,
            Some(lead_id) => match fetch_lead(&mut tx, workspace_id, lead_id).await {
                Ok(lead) => Some(lead),
                Err(StoreError::NotFound(_)) => {
                    let refused = FieldError::new("lead_id", "no such lead in this workspace");
                    return Err(refused.into());
                }
                Err(error) => return Err(error),
            },
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO watchtower_signals (workspace_id, {SIGNAL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(workspace_id)
        .bind(&signal.id)
        .bind(signal.kind.as_str())
        .bind(&signal.lead_id)
        .bind(&signal.company)
        .bind(&signal.title)
        .bind(&signal.detail)
        .bind(&signal.url)
        .bind(to_micros(signal.occurred_at))
        .bind(to_micros(signal.created_at))
        .execute(&mut *tx)
        .await?;

        let event = watchtower_alert_event(workspace_id, &signal, lead.as_ref());
        let queued = insert_event(&mut tx, &event).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok((signal, event.id))
    }

    async fn get_signal(&self, workspace_id: &str, id: &str) -> Result<Option<Signal>> {
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS} FROM watchtower_signals WHERE workspace_id = $1 AND id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(signal_from_row).transpose()
    }

    async fn list_signals(
        &self,
        workspace_id: &str,
        filter: &SignalFilter,
        page: &PageRequest,
    ) -> Result<Page<Signal>> {
        let mut query = QueryBuilder::<Db>::new(format!(
            "SELECT {SIGNAL_COLUMNS} FROM watchtower_signals WHERE workspace_id = "
        ));
        query.push_bind(workspace_id);
        if let Some(kind) = filter.kind {
            query.push(" AND type = ").push_bind(kind.as_str());
        }
        if let Some(lead_id) = &filter.lead_id {
            query.push(" AND lead_id = ").push_bind(lead_id.as_str());
        }
        if let Some(since) = filter.since {
            query
                .push(" AND created_at >= ")
                .push_bind(to_micros(since));
        }
        if let Some(after) = &page.after {
            query.push(" AND id < ").push_bind(after.as_str());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);

        let rows = query.build().fetch_all(&self.pool).await?;
        let signals = rows
            .iter()
            .map(signal_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(signals, page.limit, |signal| &signal.id))
    }
}
