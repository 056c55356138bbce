//! What every reconcile shares: clients, the store, settings, metrics and per-object
//! backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder};
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::store::Store;
use socialscalr_core::target::TargetPolicy;

use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a rotated token keeps working after its successor is issued.
    pub token_grace: Duration,
    /// How often an endpoint's delivery health is read again.
    pub health_interval: Duration,
    /// How often a settled object is looked at again, to repair drift in the store.
    pub resync: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_grace: Duration::from_secs(24 * 3600),
            health_interval: Duration::from_secs(60),
            resync: Duration::from_secs(600),
        }
    }
}

/// The longest a failing object waits before it is tried again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub struct Context {
    pub client: Client,
    pub store: Arc<dyn Store>,
    pub secrets: SecretBox,
    pub target_policy: TargetPolicy,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// Consecutive failures per object, so that each backs off on its own.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        store: Arc<dyn Store>,
        secrets: SecretBox,
        target_policy: TargetPolicy,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Arc<Self> {
        Arc::new(Context {
            client,
            store,
            secrets,
            target_policy,
            recorder,
            metrics,
            settings,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more failure of the object and answers how long it waits: 1 s, doubling
    /// up to [`MAX_BACKOFF`].
    pub fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry(key.to_owned()).or_default();
        *count = count.saturating_add(1);
        backoff_after(*count)
    }

    /// The object reconciled; its next failure starts the backoff again.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Records a Kubernetes Event on the object. An Event that cannot be written is logged
    /// and does not fail the reconcile.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: reason.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, reference).await {
            tracing::warn!(%error, reason, "Could not record a Kubernetes Event");
        }
    }
}

pub fn backoff_after(failures: u32) -> Duration {
    let seconds = 1u64 << failures.saturating_sub(1).min(16);
    Duration::from_secs(seconds).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap() {
        assert_eq!(backoff_after(1), Duration::from_secs(1));
        assert_eq!(backoff_after(2), Duration::from_secs(2));
        assert_eq!(backoff_after(5), Duration::from_secs(16));
        assert_eq!(backoff_after(40), MAX_BACKOFF);
    }
}
