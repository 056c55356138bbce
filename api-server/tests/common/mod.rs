//! A real API server on 127.0.0.1 over a SQLite store in a temporary directory, and a
//! client for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use socialscalr_api_server::AppState;
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::model::{NewToken, Scope};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::Store;
use socialscalr_core::target::TargetPolicy;
use socialscalr_core::token;

pub struct Api {
    pub base: String,
    pub client: Client,
    pub store: Arc<dyn Store>,
    pub token: String,
    pub dir: tempfile::TempDir,
}

impl Api {
    pub async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/api.db", dir.path().display());
        let store = socialscalr_core::store::open(&url).await.unwrap();
        let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = AppState::new(
            Arc::clone(&store),
            secrets,
            TargetPolicy {
                allow_loopback: true,
            },
        );
        tokio::spawn(socialscalr_api_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let mut api = Api {
            base: format!("http://{addr}"),
            client: Client::new(),
            store,
            token: String::new(),
            dir,
        };
        api.token = api.token_for("acme", Plan::Pro).await;
        api
    }

    /// An admin token of a new workspace.
    pub async fn token_for(&self, workspace: &str, plan: Plan) -> String {
        self.workspace(workspace, plan).await.1
    }

    /// A new workspace's id and an admin token of it.
    pub async fn workspace(&self, name: &str, plan: Plan) -> (String, String) {
        let workspace = self.store.create_workspace(name, plan).await.unwrap();
        let admin = NewToken {
            scopes: vec![Scope::Admin],
            ..NewToken::named("test")
        };
        (
            workspace.id.clone(),
            self.issue(&workspace.id, &admin).await,
        )
    }

    /// The id of a workspace made earlier.
    pub async fn workspace_id(&self, name: &str) -> String {
        self.store.find_workspace(name).await.unwrap().unwrap().id
    }

    pub async fn issue(&self, workspace_id: &str, new: &NewToken) -> String {
        let issued = token::issue();
        self.store
            .create_token(workspace_id, new, &issued)
            .await
            .unwrap();
        issued.token
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call_as(token, Method::GET, path, None).await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(token, Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call_as(&self.token, Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(&self.token, Method::POST, path, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(&self.token, Method::PATCH, path, Some(body))
            .await
    }

    pub async fn lead(&self, body: Value) -> String {
        let (status, lead) = self.post("/api/v1/leads", body).await;
        assert_eq!(status, StatusCode::CREATED, "{lead}");
        lead["id"].as_str().unwrap().to_owned()
    }
}

pub fn assert_error(
    result: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    let (actual, body) = result;
    assert_eq!(*actual, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

/// Polls `check` until it returns a value, for at most 10 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
