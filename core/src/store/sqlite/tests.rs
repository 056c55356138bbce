//! Tests of what only the SQLite backend has: its file, its old schemas.

use sqlx::Row;

use super::*;
use crate::event::EventType;
use crate::plan::Plan;
#[cfg(unix)]
mod files {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_new_database_and_its_directory_are_private_to_their_user() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let url = format!("sqlite://{}/store.db", dir.display());
        let store = SqliteStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("store.db")), 0o600);
        assert_eq!(mode(&dir.join("store.db-wal")), 0o600);
    }
}

mod subscriptions {
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

mod webhooks {
    use super::*;

    #[tokio::test]
    async fn endpoints_from_before_formats_get_the_format_their_url_calls_for() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/old.db", dir.path().display());
        let store = SqliteStore::open(&url).await.unwrap();
        MIGRATOR.run_to(1, &store.pool).await.unwrap();
        // Written as the schema of that time had it: later migrations add columns.
        let workspace = "ws_01J00000000000000000000000".to_owned();
        sqlx::query(
            "INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, 'acme', 'pro', 0)",
        )
        .bind(&workspace)
        .execute(&store.pool)
        .await
        .unwrap();
        let urls = [
            (
                "ep_slack",
                "https://hooks.slack.com/services/T0/B0/x",
                "slack",
            ),
            (
                "ep_discord",
                "https://discord.com/api/webhooks/1/a",
                "discord",
            ),
            (
                "ep_old_discord",
                "https://discordapp.com/api/webhooks/1/a",
                "discord",
            ),
            ("ep_plain", "https://example.com/hooks", "json"),
        ];
        for (id, url, _) in urls {
            sqlx::query(
                "INSERT INTO webhook_endpoints \
                 (id, workspace_id, url, events, sealed_secret, created_at) \
                 VALUES (?, ?, ?, '[\"lead.replied\"]', 'v1:sealed', 0)",
            )
            .bind(id)
            .bind(&workspace)
            .bind(url)
            .execute(&store.pool)
            .await
            .unwrap();
        }

        store.migrate().await.unwrap();
        for (id, url, format) in urls {
            let endpoint = store.get_endpoint(&workspace, id).await.unwrap().unwrap();
            assert_eq!(endpoint.format.as_str(), format, "{url}");
        }
    }
}
