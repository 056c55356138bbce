//! What the dispatcher tests share: a store with a workspace and a lead, endpoints, a
//! dispatcher to start, and what receivers saw.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::event::EventType;
use socialscalr_core::ids;
use socialscalr_core::model::{DeliveryAttempt, EndpointFormat, NewMessage};
use socialscalr_core::plan::Plan;
use socialscalr_core::retry::RetrySchedule;
use socialscalr_core::signing;
use socialscalr_core::store::{DeliveryCounts, NewEndpointRow, PageRequest, Store};
use socialscalr_core::target::TargetPolicy;
use socialscalr_dispatcher::{Dispatcher, DispatcherConfig};
use tokio::sync::oneshot;

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub type Log = Arc<Mutex<Vec<Received>>>;

pub struct Setup {
    pub store: Arc<dyn Store>,
    pub secrets: SecretBox,
    pub workspace: String,
    pub lead: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    pub async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/chat.db", dir.path().display());
        let store = socialscalr_core::store::open(&url).await.unwrap();
        let workspace = store.create_workspace("acme", Plan::Pro).await.unwrap().id;
        let new_lead = serde_json::from_value(json!({
            "name": "Sarah Chen",
            "company": "Northwind",
            "linkedin_url": "https://www.linkedin.com/in/sarahchen"
        }))
        .unwrap();
        let lead = store
            .create_lead(&workspace, &new_lead)
            .await
            .unwrap()
            .lead
            .id;
        let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        Setup {
            store,
            secrets,
            workspace,
            lead,
            _dir: dir,
        }
    }

    /// Registers an endpoint for `lead.replied` that gets the signed envelope; returns its
    /// id and secret.
    pub async fn endpoint(&self, url: &str) -> (String, String) {
        self.endpoint_as(url, EndpointFormat::Json).await
    }

    /// Registers an endpoint for `lead.replied` in `format`; returns its id and secret.
    pub async fn endpoint_as(&self, url: &str, format: EndpointFormat) -> (String, String) {
        let id = ids::new_id(ids::ENDPOINT);
        let secret = signing::generate_secret();
        let row = NewEndpointRow {
            sealed_secret: self.secrets.seal(&id, &secret),
            id: id.clone(),
            url: url.to_owned(),
            description: None,
            events: vec![EventType::LeadReplied],
            format,
        };
        self.store
            .create_endpoint(&self.workspace, &row)
            .await
            .unwrap();
        (id, secret)
    }

    pub async fn reply(&self, text: &str) -> String {
        let message: NewMessage =
            serde_json::from_value(json!({"direction": "inbound", "text": text})).unwrap();
        self.store
            .add_message(&self.workspace, &self.lead, &message)
            .await
            .unwrap()
            .1
            .unwrap()
    }

    /// Starts a dispatcher with retries at 1 s and 2 s; `configure` changes the rest.
    pub fn start(&self, configure: impl FnOnce(&mut DispatcherConfig)) -> oneshot::Sender<()> {
        self.start_with("1s,2s", configure)
    }

    pub fn start_with(
        &self,
        schedule: &str,
        configure: impl FnOnce(&mut DispatcherConfig),
    ) -> oneshot::Sender<()> {
        let policy = TargetPolicy {
            allow_loopback: true,
        };
        let mut config = DispatcherConfig::new(RetrySchedule::parse(schedule).unwrap(), policy);
        config.poll_interval = Duration::from_millis(100);
        config.attempt_timeout = Duration::from_secs(2);
        configure(&mut config);
        let dispatcher =
            Dispatcher::new(Arc::clone(&self.store), self.secrets.clone(), config).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(dispatcher.run(async move {
            let _ = stopped.await;
        }));
        stop
    }

    /// Newest first.
    pub async fn attempts(&self, endpoint: &str) -> Vec<DeliveryAttempt> {
        let page = PageRequest {
            limit: 100,
            after: None,
        };
        self.store
            .list_attempts(&self.workspace, endpoint, &page)
            .await
            .unwrap()
            .items
    }

    pub async fn counts(&self) -> DeliveryCounts {
        self.store.delivery_counts(&self.workspace).await.unwrap()
    }
}

/// Polls `check` until it holds, for at most 30 seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
