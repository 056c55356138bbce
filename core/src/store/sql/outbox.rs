//! Events and their deliveries, written inside the transaction of the change.

use sqlx::Row;

use crate::event::{EventType, NewEvent};
use crate::ids::{self, new_id};
use crate::store::*;
use crate::time::to_micros;

use super::*;

/// Records an event and one pending delivery per endpoint subscribed to its type.
/// Returns how many deliveries were queued.
pub(super) async fn insert_event(conn: &mut DbConnection, event: &NewEvent) -> Result<usize> {
    insert_event_row(conn, event).await?;

    let endpoints = sqlx::query(
        "SELECT id, events FROM webhook_endpoints \
         WHERE workspace_id = $1 AND disabled = 0 AND deleted_at IS NULL",
    )
    .bind(&event.workspace_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut queued = 0;
    for endpoint in endpoints {
        let events: Vec<EventType> = decode_json("events", endpoint.try_get("events")?)?;
        if !events.contains(&event.event_type) {
            continue;
        }
        let endpoint_id: String = endpoint.try_get("id")?;
        sqlx::query(
            "INSERT INTO deliveries \
             (id, workspace_id, event_id, endpoint_id, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
        )
        .bind(new_id(ids::DELIVERY))
        .bind(&event.workspace_id)
        .bind(&event.id)
        .bind(&endpoint_id)
        .bind(to_micros(event.created_at))
        .bind(to_micros(event.created_at))
        .execute(&mut *conn)
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// Records an event that no endpoint is to receive, such as one the workspace's plan does
/// not deliver: it stays in the store as the record of the change.
pub(super) async fn insert_event_row(conn: &mut DbConnection, event: &NewEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (id, workspace_id, type, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&event.id)
    .bind(&event.workspace_id)
    .bind(event.event_type.as_str())
    .bind(&event.payload)
    .bind(to_micros(event.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
