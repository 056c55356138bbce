//! The scheduler on a real SQLite store: what it changes, that racing schedulers in
//! separate store handles (as separate processes would be) change each row once, and that
//! it starts with a sweep and stops when told.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socialscalr_core::event::EventType;
use socialscalr_core::ids;
use socialscalr_core::model::{Campaign, CampaignStatus, NewCampaign, NewPost, PostStatus};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{ClaimRequest, NewEndpointRow, Store};
use socialscalr_core::time::{self, Timestamp};
use socialscalr_dispatcher::scheduler::Sweep;
use socialscalr_dispatcher::{Scheduler, SchedulerConfig};
use tokio::sync::oneshot;

const DEADLINE: Duration = Duration::from_secs(20);

async fn open(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}/scheduler.db", dir.path().display());
    socialscalr_core::store::open(&url).await.unwrap()
}

/// A workspace with an endpoint subscribed to the scheduler's events.
async fn workspace(store: &dyn Store) -> String {
    let workspace = store.create_workspace("acme", Plan::Pro).await.unwrap();
    let endpoint = NewEndpointRow {
        id: ids::new_id(ids::ENDPOINT),
        url: "http://127.0.0.1:9/hook".into(),
        description: None,
        events: vec![EventType::PostFailed, EventType::CampaignCompleted],
        sealed_secret: "v1:sealed".into(),
        format: socialscalr_core::model::EndpointFormat::Json,
    };
    store
        .create_endpoint(&workspace.id, &endpoint)
        .await
        .unwrap();
    workspace.id
}

fn in_millis(millis: i64) -> Timestamp {
    time::now() + chrono::Duration::milliseconds(millis)
}

async fn campaign_ending_at(store: &dyn Store, workspace_id: &str, at: Timestamp) -> Campaign {
    let new: NewCampaign = serde_json::from_value(json!({
        "name": "Ends soon",
        "targeting": {"source": "manual"},
        "steps": [{"type": "invite"}],
        "ends_at": time::rfc3339(at)
    }))
    .unwrap();
    store.create_campaign(workspace_id, &new).await.unwrap()
}

/// The event types of every delivery the store queued, with their data.
async fn queued_events(store: &dyn Store) -> Vec<(EventType, Value)> {
    let request = ClaimRequest {
        worker: "test",
        now: in_millis(3_600_000),
        lease: Duration::from_secs(60),
        limit: 1_000,
        per_endpoint: 1_000,
        per_workspace: 1_000,
        skip_endpoints: &[],
        skip_workspaces: &[],
    };
    let claimed = store.claim_deliveries(&request).await.unwrap();
    claimed
        .into_iter()
        .map(|delivery| {
            let envelope: Value = serde_json::from_str(&delivery.payload).unwrap();
            (delivery.event_type, envelope["data"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_racing_on_one_database_change_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let stores = [open(&dir).await, open(&dir).await];
    let ws = workspace(stores[0].as_ref()).await;
    let post: NewPost = serde_json::from_value(json!({
        "text": "Nobody will run this",
        "scheduled_at": time::rfc3339(in_millis(300))
    }))
    .unwrap();
    let post = stores[0].create_post(&ws, &post).await.unwrap();
    let campaign = campaign_ending_at(stores[1].as_ref(), &ws, in_millis(300)).await;

    let config = SchedulerConfig {
        post_grace: Duration::ZERO,
        // One row per transaction, so racing sweeps interleave as much as they can.
        batch: 1,
        ..SchedulerConfig::default()
    };
    let mut racers = Vec::new();
    for n in 0..4 {
        let store = Arc::clone(&stores[n % 2]);
        let scheduler = Scheduler::new(Arc::clone(&store), config.clone());
        let (ws, post_id, campaign_id) = (ws.clone(), post.id.clone(), campaign.id.clone());
        racers.push(tokio::spawn(async move {
            let deadline = Instant::now() + DEADLINE;
            let mut total = Sweep::default();
            let mut sweeps_after_both = 0;
            // Sweeps until both rows changed, then a few more to give a duplicate a chance.
            while sweeps_after_both < 10 {
                assert!(Instant::now() < deadline, "the rows never changed");
                let sweep = scheduler.sweep(time::now()).await.unwrap();
                total.posts_failed += sweep.posts_failed;
                total.campaigns_completed += sweep.campaigns_completed;
                let post = store.get_post(&ws, &post_id).await.unwrap().unwrap();
                let campaign = store
                    .get_campaign(&ws, &campaign_id)
                    .await
                    .unwrap()
                    .unwrap();
                if post.status == PostStatus::Failed && campaign.status == CampaignStatus::Completed
                {
                    sweeps_after_both += 1;
                }
            }
            total
        }));
    }
    let mut total = Sweep::default();
    for racer in racers {
        let sweep = racer.await.unwrap();
        total.posts_failed += sweep.posts_failed;
        total.campaigns_completed += sweep.campaigns_completed;
    }
    assert_eq!(
        total,
        Sweep {
            campaigns_completed: 1,
            posts_failed: 1
        }
    );

    let mut events = queued_events(stores[0].as_ref()).await;
    events.sort_by_key(|(event_type, _)| *event_type);
    let types: Vec<EventType> = events.iter().map(|(event_type, _)| *event_type).collect();
    assert_eq!(
        types,
        [EventType::CampaignCompleted, EventType::PostFailed],
        "one event per change: {events:?}"
    );
    assert_eq!(events[0].1["reason"], "end_date");
    assert_eq!(events[0].1["leads"], 0);
    assert_eq!(events[0].1["campaign"]["id"], json!(campaign.id));
    assert_eq!(events[1].1["reason"], "not_run");
    assert_eq!(events[1].1["post"]["id"], json!(post.id));
}

#[tokio::test]
async fn a_running_scheduler_sweeps_at_start_and_stops_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let ws = workspace(store.as_ref()).await;
    let ended = campaign_ending_at(store.as_ref(), &ws, in_millis(-60_000)).await;

    // An hour between ticks: only the sweep at start can complete the campaign.
    let config = SchedulerConfig {
        interval: Duration::from_secs(3_600),
        ..SchedulerConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(Scheduler::new(Arc::clone(&store), config).run(async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let campaign = store.get_campaign(&ws, &ended.id).await.unwrap().unwrap();
        if campaign.status == CampaignStatus::Completed {
            break;
        }
        assert!(Instant::now() < deadline, "the first sweep did not happen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    stop.send(()).unwrap();
    tokio::time::timeout(DEADLINE, running)
        .await
        .expect("the scheduler stops when told")
        .unwrap();
    let events = queued_events(store.as_ref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, EventType::CampaignCompleted);
}
