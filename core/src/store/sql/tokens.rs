//! API tokens: issue, list, rotate with a grace period, revoke, resolve.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::tenancy::workspace_from_row;
use super::*;
use crate::ids::{self, new_id};
use crate::model::{ApiToken, FieldError, NewToken, TokenCredentials};
use crate::plan::Plan;
use crate::store::{Page, PageRequest, Result, StoreError, TokenStore};
use crate::time::{self, Timestamp, from_micros, to_micros};
use crate::token::{IssuedToken, display_prefix};

pub(super) const TOKEN_COLUMNS: &str = "t.id, t.workspace_id, t.name, t.public_id, t.scopes, t.seat, \
     t.created_at, t.expires_at, t.revoked_at, t.replaced_by, t.managed_by";

pub(super) fn token_from_row(row: &DbRow) -> Result<ApiToken> {
    let public_id: String = row.try_get("public_id")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        name: row.try_get("name")?,
        prefix: display_prefix(&public_id),
        scopes: decode_json("scopes", row.try_get("scopes")?)?,
        seat: row.try_get("seat")?,
        created_at: from_micros(row.try_get("created_at")?),
        expires_at: optional_time(row.try_get("expires_at")?),
        revoked_at: optional_time(row.try_get("revoked_at")?),
        replaced_by: row.try_get("replaced_by")?,
        managed_by: row.try_get("managed_by")?,
    })
}

async fn fetch_token(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Option<ApiToken>> {
    let sql =
        format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.workspace_id = $1 AND t.id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(token_from_row).transpose()
}

/// Refuses a seat token beyond the workspace's seats, and seats outside agency plans.
async fn check_seat(
    conn: &mut DbConnection,
    workspace_id: &str,
    seat: &str,
    now: Timestamp,
) -> Result<()> {
    let row = sqlx::query("SELECT plan, seats FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("workspace"))?;
    let plan: String = row.try_get("plan")?;
    if plan != Plan::Agency.as_str() {
        return Err(FieldError::new("seat", "only agency workspaces have per-seat tokens").into());
    }
    let seats = optional_u32(row.try_get("seats")?).unwrap_or_default();
    let active: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT seat FROM api_tokens WHERE workspace_id = $1 AND seat IS NOT NULL \
         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(workspace_id)
    .bind(to_micros(now))
    .fetch_all(&mut *conn)
    .await?;
    if !active.iter().any(|taken| taken == seat) && active.len() as u64 >= u64::from(seats) {
        return Err(StoreError::Conflict(format!(
            "all {seats} seats of this workspace have active tokens; revoke one first"
        )));
    }
    Ok(())
}

async fn insert_token(
    conn: &mut DbConnection,
    workspace_id: &str,
    new: &NewToken,
    issued: &IssuedToken,
    now: Timestamp,
) -> Result<ApiToken> {
    let token = ApiToken {
        id: new_id(ids::TOKEN),
        workspace_id: workspace_id.to_owned(),
        name: new.name.clone(),
        prefix: display_prefix(&issued.public_id),
        scopes: new.scopes.clone(),
        seat: new.seat.clone(),
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        replaced_by: None,
        managed_by: None,
    };
    let inserted = sqlx::query(
        "INSERT INTO api_tokens (id, workspace_id, name, public_id, secret_hash, scopes, seat, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&token.id)
    .bind(workspace_id)
    .bind(&token.name)
    .bind(&issued.public_id)
    .bind(&issued.secret_hash)
    .bind(json_text(&token.scopes))
    .bind(&token.seat)
    .bind(to_micros(now))
    .bind(token.expires_at.map(to_micros))
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(token),
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            Err(StoreError::NotFound("workspace"))
        }
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl TokenStore for DbStore {
    async fn create_token(
        &self,
        workspace_id: &str,
        new: &NewToken,
        issued: &IssuedToken,
    ) -> Result<ApiToken> {
        let now = time::now();
        new.validate(now)?;
        let mut tx = self.write_in(workspace_id).await?;
        if let Some(seat) = &new.seat {
            check_seat(&mut tx, workspace_id, seat, now).await?;
        }
        let token = insert_token(&mut tx, workspace_id, new, issued, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn get_token(&self, workspace_id: &str, id: &str) -> Result<Option<ApiToken>> {
        let mut conn = self.pool.acquire().await?;
        fetch_token(&mut conn, workspace_id, id).await
    }

    async fn list_tokens(&self, workspace_id: &str, page: &PageRequest) -> Result<Page<ApiToken>> {
        let select = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.workspace_id = $1");
        self.list_page(&select, "t.id", workspace_id, page, token_from_row, |t| {
            &t.id
        })
        .await
    }

    async fn rotate_token(
        &self,
        workspace_id: &str,
        id: &str,
        issued: &IssuedToken,
        grace_until: Timestamp,
    ) -> Result<ApiToken> {
        let now = time::now();
        let mut tx = self.write_in(workspace_id).await?;
        let old = fetch_token(&mut tx, workspace_id, id)
            .await?
            .ok_or(StoreError::NotFound("token"))?;
        if old.revoked_at.is_some() || old.expires_at.is_some_and(|at| at <= now) {
            return Err(StoreError::Conflict(
                "the token is revoked or expired".into(),
            ));
        }
        if old.replaced_by.is_some() {
            return Err(StoreError::Conflict("the token was already rotated".into()));
        }
        let successor = NewToken {
            name: old.name.clone(),
            scopes: old.scopes.clone(),
            seat: old.seat.clone(),
            expires_at: old.expires_at,
        };
        let new = insert_token(&mut tx, workspace_id, &successor, issued, now).await?;
        let grace_until = old.expires_at.map_or(grace_until, |at| at.min(grace_until));
        sqlx::query("UPDATE api_tokens SET expires_at = $1, replaced_by = $2 WHERE id = $3")
            .bind(to_micros(grace_until))
            .bind(&new.id)
            .bind(&old.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn revoke_token(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE workspace_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(to_micros(time::now()))
        .bind(workspace_id)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    async fn token_credentials(
        &self,
        public_id: &str,
        now: Timestamp,
    ) -> Result<Option<TokenCredentials>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, t.secret_hash, w.id AS ws_id, w.name AS ws_name, \
             w.plan AS ws_plan, w.seats AS ws_seats, \
             w.requests_per_minute AS ws_requests_per_minute, \
             w.webhook_events_per_minute AS ws_webhook_events_per_minute, \
             w.created_at AS ws_created_at, w.cancelled_at AS ws_cancelled_at, \
             w.suspended AS ws_suspended \
             FROM api_tokens t JOIN workspaces w ON w.id = t.workspace_id \
             WHERE t.public_id = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2)"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(public_id)
            .bind(to_micros(now))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenCredentials {
            token: token_from_row(&row)?,
            secret_hash: row.try_get("secret_hash")?,
            workspace: workspace_from_row(&row, "ws_")?,
        }))
    }
}
