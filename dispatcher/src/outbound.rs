//! The outbound cap: at most a workspace's webhook events per minute of delivery attempts
//! in any rolling window, retries included. An attempt over the cap is not made: its
//! delivery goes back to the queue untouched, and the workspace is passed over by claims
//! until a slot frees, so that its burst drains at the cap while every other workspace's
//! deliveries go on. The count lives in the [`Limiter`], so with Redis it holds across
//! every dispatcher replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socialscalr_core::ratelimit::{Bucket, Limiter};
use socialscalr_core::store::Store;
use tokio::time::Instant;

/// How long a workspace's cap is used before it is read from the store again, so that a
/// plan change or an override takes effect within this time.
const CAP_REFRESH: Duration = Duration::from_secs(30);

pub struct OutboundCap {
    limiter: Arc<Limiter>,
    window: Duration,
    caps: Mutex<HashMap<String, (Option<u32>, Instant)>>,
    /// Workspaces at their cap, and when a slot frees for each.
    held: Mutex<HashMap<String, Instant>>,
}

impl OutboundCap {
    pub fn new(limiter: Arc<Limiter>, window: Duration) -> OutboundCap {
        OutboundCap {
            limiter,
            window,
            caps: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The workspaces still at their cap at `now`, for claims to pass over.
    pub fn held_back(&self, now: Instant) -> Vec<String> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|_, until| *until > now);
        held.keys().cloned().collect()
    }

    /// When the first held workspace gets a slot again.
    pub fn next_release(&self) -> Option<Instant> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.values().min().copied()
    }

    /// Counts one attempt of `workspace_id` against its cap; false when the cap is reached,
    /// and then the workspace is held back until a slot frees.
    pub async fn admit(&self, store: &dyn Store, workspace_id: &str) -> bool {
        let now = Instant::now();
        if self.is_held(workspace_id, now) {
            return false;
        }
        let Some(cap) = self.cap(store, workspace_id, now).await else {
            return true;
        };
        let decision = self
            .limiter
            .check(Bucket::Outbound, workspace_id, cap, self.window)
            .await;
        if !decision.allowed {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.insert(workspace_id.to_owned(), now + decision.frees_in);
        }
        decision.allowed
    }

    fn is_held(&self, workspace_id: &str, now: Instant) -> bool {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(workspace_id).is_some_and(|until| *until > now)
    }

    /// The workspace's attempts per window; `None` for no cap. A store that cannot answer
    /// leaves the workspace uncapped for now rather than stalling its deliveries.
    async fn cap(&self, store: &dyn Store, workspace_id: &str, now: Instant) -> Option<u32> {
        {
            let caps = self.caps.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((cap, read_at)) = caps.get(workspace_id)
                && now.duration_since(*read_at) < CAP_REFRESH
            {
                return *cap;
            }
        }
        let cap = match store.find_workspace(workspace_id).await {
            Ok(workspace) => workspace.and_then(|w| w.webhook_events_per_minute()),
            Err(error) => {
                tracing::warn!(%error, workspace = workspace_id, "Reading the outbound cap failed");
                return None;
            }
        };
        let mut caps = self.caps.lock().unwrap_or_else(|p| p.into_inner());
        caps.retain(|_, (_, read_at)| now.duration_since(*read_at) < CAP_REFRESH);
        caps.insert(workspace_id.to_owned(), (cap, now));
        cap
    }
}

#[cfg(test)]
mod tests {
    use socialscalr_core::plan::Plan;

    use super::*;

    #[tokio::test]
    async fn a_workspace_at_its_cap_is_held_back_until_a_slot_frees() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cap.db", dir.path().display());
        let store = socialscalr_core::store::open(&url).await.unwrap();
        let starter = store.create_workspace("busy", Plan::Starter).await.unwrap();
        let free = store.create_workspace("free", Plan::Free).await.unwrap();
        let window = Duration::from_secs(2);
        let cap = OutboundCap::new(Arc::new(Limiter::local()), window);

        for _ in 0..25 {
            assert!(cap.admit(store.as_ref(), &starter.id).await);
        }
        assert!(
            !cap.admit(store.as_ref(), &starter.id).await,
            "the 26th waits"
        );
        assert_eq!(cap.held_back(Instant::now()), vec![starter.id.clone()]);
        let release = cap.next_release().expect("a release time");
        assert!(release <= Instant::now() + window);
        for _ in 0..100 {
            assert!(cap.admit(store.as_ref(), &free.id).await, "free has no cap");
        }
        assert!(
            cap.held_back(release).is_empty(),
            "released when a slot frees"
        );
    }
}
