//! Who may call what, how often, and what is remembered: rate limits, scopes, token
//! management, agency seats, the audit log and idempotent POSTs.

mod common;

use common::{Api, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use socialscalr_core::model::{NewToken, Scope};
use socialscalr_core::plan::Plan;

async fn workspace_with_token(api: &Api, name: &str, plan: Plan, new: NewToken) -> String {
    let workspace = api.store.create_workspace(name, plan).await.unwrap();
    api.issue(&workspace.id, &new).await
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_authenticated_answer_carries_the_rate_limit_headers() {
    let api = Api::start().await;
    for path in [
        "/api/v1/leads",
        "/api/v1/leads/ld_01J00000000000000000000000",
        "/api/v1/leads?x=1",
    ] {
        let response = api
            .client
            .get(format!("{}{path}", api.base))
            .bearer_auth(&api.token);
        let response = response.send().await.unwrap();
        assert_eq!(header(&response, "x-ratelimit-limit"), "600", "{path}");
        assert!(
            header(&response, "x-ratelimit-remaining")
                .parse::<u32>()
                .unwrap()
                < 600
        );
        let reset: i64 = header(&response, "x-ratelimit-reset").parse().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!(
            reset > now && reset <= now + 61,
            "reset {reset} is epoch seconds"
        );
    }
}

#[tokio::test]
async fn a_workspace_over_its_limit_gets_429_across_all_its_tokens() {
    let api = Api::start().await;
    let first = workspace_with_token(&api, "starter", Plan::Starter, NewToken::named("a")).await;
    let workspace = api.store.find_workspace("starter").await.unwrap().unwrap();
    let second = api.issue(&workspace.id, &NewToken::named("b")).await;
    let url = format!("{}/api/v1/leads", api.base);
    for n in 0..100 {
        let token = if n % 2 == 0 { &first } else { &second };
        let response = api
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            (99 - n).to_string()
        );
    }
    for token in [&first, &second] {
        let response = api
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&response, "x-ratelimit-remaining"), "0");
        let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    // Another workspace is not affected.
    let response = api
        .client
        .get(&url)
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn scopes_limit_a_token_to_its_families() {
    let api = Api::start().await;
    let workspace = api.store.find_workspace("acme").await.unwrap().unwrap();
    let read_leads = NewToken {
        scopes: vec![
            "leads:read".parse().unwrap(),
            "webhooks:write".parse().unwrap(),
        ],
        ..NewToken::named("reader")
    };
    let token = api.issue(&workspace.id, &read_leads).await;
    let (status, _) = api
        .call_as(&token, Method::GET, "/api/v1/leads", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call_as(&token, Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(status, StatusCode::OK, "write includes read");
    let result = api
        .call_as(
            &token,
            Method::POST,
            "/api/v1/leads",
            Some(json!({"name": "A"})),
        )
        .await;
    assert_error(&result, StatusCode::FORBIDDEN, "scope_required", None);
    assert!(
        result.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("leads:write")
    );
    let result = api
        .call_as(&token, Method::GET, "/api/v1/campaigns", None)
        .await;
    assert_error(&result, StatusCode::FORBIDDEN, "scope_required", None);
    let result = api
        .call_as(&token, Method::GET, "/api/v1/tokens", None)
        .await;
    assert_error(&result, StatusCode::FORBIDDEN, "scope_required", None);
    assert!(
        result.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin")
    );
    let (_, leads) = api.get("/api/v1/leads").await;
    assert_eq!(leads["data"], json!([]), "the refused create wrote nothing");
}

#[tokio::test]
async fn admins_issue_rotate_and_revoke_tokens_over_the_api() {
    let api = Api::start().await;
    let (status, issued) = api
        .post(
            "/api/v1/tokens",
            json!({"name": "crm", "scopes": ["leads:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let crm = issued["token"].as_str().unwrap().to_owned();
    let crm_id = issued["id"].as_str().unwrap().to_owned();
    assert_eq!(issued["scopes"], json!(["leads:read"]));
    let (status, _) = api.call_as(&crm, Method::GET, "/api/v1/leads", None).await;
    assert_eq!(status, StatusCode::OK);

    let (_, listed) = api.get("/api/v1/tokens").await;
    let listed = listed["data"].as_array().unwrap();
    assert!(
        listed.iter().all(|t| t.get("token").is_none()),
        "secrets are never listed"
    );
    assert!(listed.iter().any(|t| t["id"] == crm_id.as_str()));

    // Rotation: the successor works, and so does the old token during the grace period.
    let (status, rotated) = api
        .post(&format!("/api/v1/tokens/{crm_id}/rotate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let successor = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(successor, crm);
    for token in [&crm, &successor] {
        let (status, _) = api.call_as(token, Method::GET, "/api/v1/leads", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, old) = api.get(&format!("/api/v1/tokens/{crm_id}")).await;
    let expires =
        chrono::DateTime::parse_from_rfc3339(old["expires_at"].as_str().unwrap()).unwrap();
    let grace = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!(
        (23 * 3_600..=24 * 3_600).contains(&grace),
        "default grace is 24 h, got {grace} s"
    );

    // A rotation with no grace ends the old token at once.
    let successor_id = rotated["id"].as_str().unwrap().to_owned();
    let (status, third) = api
        .post(
            &format!("/api/v1/tokens/{successor_id}/rotate?grace=0s"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let result = api
        .call_as(&successor, Method::GET, "/api/v1/leads", None)
        .await;
    assert_error(&result, StatusCode::UNAUTHORIZED, "unauthorized", None);

    // Revocation is immediate.
    let third_token = third["token"].as_str().unwrap().to_owned();
    let third_id = third["id"].as_str().unwrap();
    let (status, _) = api
        .call_as(
            &api.token,
            Method::DELETE,
            &format!("/api/v1/tokens/{third_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let result = api
        .call_as(&third_token, Method::GET, "/api/v1/leads", None)
        .await;
    assert_error(&result, StatusCode::UNAUTHORIZED, "unauthorized", None);

    let bad = [
        (
            json!({"name": "x", "scopes": ["leads:delete"]}),
            "scopes[0]",
        ),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"name": "x", "seat": "ana"}), "seat"),
    ];
    for (body, field) in bad {
        let result = api.post("/api/v1/tokens", body).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let result = api
        .post(
            "/api/v1/tokens/tok_01J00000000000000000000000/rotate",
            json!({}),
        )
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api
        .post(
            &format!("/api/v1/tokens/{crm_id}/rotate?grace=soon"),
            json!({}),
        )
        .await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("grace"),
    );
}

#[tokio::test]
async fn agency_seat_tokens_are_capped_and_attributed_in_the_audit_log() {
    let api = Api::start().await;
    let admin = NewToken {
        scopes: vec![Scope::Admin],
        ..NewToken::named("admin override")
    };
    let admin = workspace_with_token(&api, "agency", Plan::Agency, admin).await;
    let mut seats = Vec::new();
    for n in 0..10 {
        let body = json!({"name": format!("seat {n}"), "seat": format!("seat-{n}")});
        let (status, issued) = api
            .call_as(&admin, Method::POST, "/api/v1/tokens", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        seats.push(issued["token"].as_str().unwrap().to_owned());
    }
    let eleventh = json!({"name": "one too many", "seat": "seat-10"});
    let result = api
        .call_as(&admin, Method::POST, "/api/v1/tokens", Some(eleventh))
        .await;
    assert_error(&result, StatusCode::CONFLICT, "conflict", None);

    let (status, _) = api
        .call_as(&seats[3], Method::GET, "/api/v1/leads", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = common::eventually("the seat's call in the audit log", || async {
        let (_, log) = api
            .call_as(&admin, Method::GET, "/api/v1/audit-log?seat=seat-3", None)
            .await;
        let entries = log["data"].as_array().cloned().unwrap_or_default();
        (!entries.is_empty()).then_some(entries)
    })
    .await;
    assert_eq!(entries[0]["seat"], "seat-3");
    assert_eq!(entries[0]["route"], "/api/v1/leads");
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["token_name"], "seat 3");
}

#[tokio::test]
async fn the_audit_log_records_calls_for_pro_and_refuses_starter() {
    let api = Api::start().await;
    let id = api.lead(json!({"name": "A"})).await;
    api.get(&format!("/api/v1/leads/{id}")).await;
    api.get("/api/v1/leads/ld_01J00000000000000000000000").await;
    let entries = common::eventually("three calls in the audit log", || async {
        let (_, log) = api.get("/api/v1/audit-log").await;
        let entries = log["data"].as_array().cloned().unwrap_or_default();
        (entries.len() >= 3).then_some(entries)
    })
    .await;
    let calls: Vec<(String, String, u64)> = entries
        .iter()
        .map(|e| {
            let route = e["route"].as_str().unwrap().to_owned();
            (
                e["method"].as_str().unwrap().to_owned(),
                route,
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        calls.contains(&("POST".into(), "/api/v1/leads".into(), 201)),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("GET".into(), "/api/v1/leads/{id}".into(), 200)),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("GET".into(), "/api/v1/leads/{id}".into(), 404)),
        "{calls:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["token_id"].as_str().unwrap().starts_with("tok_"))
    );

    let starter = workspace_with_token(&api, "starter", Plan::Starter, NewToken::named("a")).await;
    let result = api
        .call_as(&starter, Method::GET, "/api/v1/audit-log", None)
        .await;
    assert_error(&result, StatusCode::FORBIDDEN, "plan_required", None);
    assert!(
        result.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pro")
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer_and_creates_nothing() {
    let api = Api::start().await;
    let url = format!("{}/api/v1/leads", api.base);
    let send = |key: &'static str, body: Value| {
        api.client
            .post(&url)
            .bearer_auth(&api.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("create-sarah", json!({"name": "Sarah"}))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("create-sarah", json!({"name": "Sarah"}))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    let other = send("create-sarah", json!({"name": "Someone else"}))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_conflict"
    );

    let (_, leads) = api.get("/api/v1/leads").await;
    assert_eq!(leads["data"].as_array().unwrap().len(), 1);

    let bad_key = api
        .client
        .post(&url)
        .bearer_auth(&api.token)
        .header("idempotency-key", "has spaces")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_key.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_key.json::<Value>().await.unwrap()["error"]["field"],
        "Idempotency-Key"
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_lead() {
    let api = Api::start().await;
    let url = format!("{}/api/v1/leads", api.base);
    let mut requests = Vec::new();
    for _ in 0..8 {
        let request = api
            .client
            .post(&url)
            .bearer_auth(&api.token)
            .header("idempotency-key", "race")
            .json(&json!({"name": "Racer"}));
        requests.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
    );
    assert!(statuses.contains(&StatusCode::CREATED));
    let (_, leads) = api.get("/api/v1/leads").await;
    assert_eq!(leads["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn kept_answers_holding_credentials_are_sealed_in_the_store() {
    use sha2::{Digest, Sha256};
    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    let api = Api::start().await;
    let body = serde_json::to_vec(&json!({
        "url": "https://hooks.example.com/in",
        "events": ["lead.replied"],
    }))
    .unwrap();
    let send = || {
        api.client
            .post(format!("{}/api/v1/webhooks", api.base))
            .bearer_auth(&api.token)
            .header("idempotency-key", "new-hook")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let secret = first.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(
        again["secret"],
        secret.as_str(),
        "a repeat gets the same answer"
    );

    let mut fingerprint = Sha256::new();
    fingerprint.update(b"/webhooks?\n");
    fingerprint.update(&body);
    let fingerprint = hex::encode(fingerprint.finalize());
    let workspace = api.workspace_id("acme").await;
    let now = socialscalr_core::time::now();
    let kept = api
        .store
        .claim_idempotency_key(&workspace, "new-hook", &fingerprint, now, now - HOUR)
        .await
        .unwrap();
    let socialscalr_core::store::IdempotencyClaim::Replay { body: stored, .. } = kept else {
        panic!("the key keeps its answer: {kept:?}");
    };
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        !stored.contains(&secret),
        "the signing secret is kept in plaintext"
    );
}
