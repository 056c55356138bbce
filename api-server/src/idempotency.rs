//! `Idempotency-Key` on POST: the first request with a key runs and its answer is kept;
//! a repeat with the same body gets that answer again and creates nothing; the same key
//! with another request is a conflict.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use socialscalr_core::store::IdempotencyClaim;
use socialscalr_core::time;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::read_limited;

pub const HEADER: &str = "idempotency-key";
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a key is remembered.
const KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);
/// The largest answer kept for replay; larger ones are passed through unkept.
const MAX_KEPT_RESPONSE: usize = 1024 * 1024;

fn key_of(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|key| Some(key.to_owned())).ok_or_else(|| {
        ApiError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    })
}

pub async fn run(state: &AppState, caller: &Caller, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let key = match key_of(&request) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let (parts, body) = request.into_parts();
    let body = match read_limited(body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"?");
    hasher.update(parts.uri.query().unwrap_or_default().as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    let fingerprint = hex::encode(hasher.finalize());

    let now = time::now();
    let workspace = caller.workspace_id();
    let claim = state
        .store
        .claim_idempotency_key(workspace, &key, &fingerprint, now, now - KEY_LIFETIME)
        .await;
    match claim {
        Err(error) => ApiError::from(error).into_response(),
        Ok(IdempotencyClaim::Replay { status, body }) => {
            let owner = kept_answer_owner(workspace, &key);
            let opened = std::str::from_utf8(&body)
                .ok()
                .and_then(|sealed| state.secrets.open(&owner, sealed).ok());
            match opened {
                Some(text) => replay(status, text.into_bytes()),
                None => {
                    tracing::error!("The kept answer of an Idempotency-Key cannot be opened");
                    ApiError::Internal.into_response()
                }
            }
        }
        Ok(IdempotencyClaim::InProgress) => ApiError::IdempotencyConflict(
            "a request with this Idempotency-Key is still being processed",
        )
        .into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::IdempotencyConflict(
            "this Idempotency-Key was already used with a different request",
        )
        .into_response(),
        Ok(IdempotencyClaim::Fresh) => {
            let response = next.run(Request::from_parts(parts, Body::from(body))).await;
            keep(state, workspace, &key, response).await
        }
    }
}

/// Keeps the first answer, except a server error, which frees the key for a retry.
async fn keep(state: &AppState, workspace: &str, key: &str, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_KEPT_RESPONSE).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "Response too large to keep for its Idempotency-Key");
            let _ = state.store.release_idempotency_key(workspace, key).await;
            return ApiError::Internal.into_response();
        }
    };
    // Kept sealed: answers such as a new token or signing secret are credentials.
    let answer = (!parts.status.is_server_error()).then(|| {
        let sealed = state.secrets.seal(
            &kept_answer_owner(workspace, key),
            &String::from_utf8_lossy(&bytes),
        );
        (parts.status.as_u16(), bytes::Bytes::from(sealed))
    });
    // Recorded before answering, so that a repeat right after finds the answer.
    if let Err(error) = record_answer(state.store.as_ref(), workspace, key, &answer).await {
        if error.is_unavailable() {
            // The database is briefly away: keep trying off the request path, so that a
            // retry of this request finds its answer (or a free key) rather than a key
            // stuck in progress.
            let store = std::sync::Arc::clone(&state.store);
            let (workspace, key) = (workspace.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut wait = std::time::Duration::from_millis(100);
                for _ in 0..10 {
                    tokio::time::sleep(wait).await;
                    match record_answer(store.as_ref(), &workspace, &key, &answer).await {
                        Err(error) if error.is_unavailable() => {
                            wait = (wait * 2).min(std::time::Duration::from_secs(5));
                        }
                        Err(error) => {
                            tracing::error!(%error, "Recording the key's answer failed");
                            return;
                        }
                        Ok(()) => return,
                    }
                }
                tracing::error!("Recording the Idempotency-Key's answer failed; it frees itself");
            });
        } else {
            tracing::error!(%error, "Recording the Idempotency-Key's answer failed");
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// What a kept answer is sealed to: its workspace and key, so it opens for no other.
fn kept_answer_owner(workspace: &str, key: &str) -> String {
    format!("idempotency:{workspace}:{key}")
}

/// Keeps the answer for the key, or frees the key when there is none to keep.
async fn record_answer(
    store: &dyn socialscalr_core::store::Store,
    workspace: &str,
    key: &str,
    answer: &Option<(u16, bytes::Bytes)>,
) -> Result<(), socialscalr_core::store::StoreError> {
    match answer {
        Some((status, body)) => {
            store
                .complete_idempotency_key(workspace, key, *status, body)
                .await
        }
        None => store.release_idempotency_key(workspace, key).await,
    }
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
