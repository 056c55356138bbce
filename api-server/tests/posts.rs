//! Posts, their publish results, and campaign completion over a real bound port, on a real
//! SQLite store in a temporary directory.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{Api, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use socialscalr_core::plan::Plan;

const LINKEDIN_POST: &str = "https://www.linkedin.com/feed/update/urn:li:activity:42";

/// Schedules a post `seconds` from now and returns it.
async fn schedule(api: &Api, text: &str, seconds: i64) -> Value {
    let at = (Utc::now() + Duration::seconds(seconds)).to_rfc3339();
    let (status, post) = api
        .post("/api/v1/posts", json!({"text": text, "scheduled_at": at}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    post
}

async fn pending_deliveries(api: &Api) -> u64 {
    let workspace_id = api.workspace_id("acme").await;
    api.store
        .delivery_counts(&workspace_id)
        .await
        .unwrap()
        .pending
}

fn id(value: &Value) -> &str {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
}

fn ids(list: &Value) -> Vec<&str> {
    list["data"].as_array().unwrap().iter().map(id).collect()
}

#[tokio::test]
async fn posts_are_scheduled_read_and_listed_by_status() {
    let api = Api::start().await;
    let in_a_month = Utc::now() + Duration::days(30);
    let at = in_a_month.to_rfc3339_opts(SecondsFormat::Secs, true);
    let body = json!({
        "text": "We are hiring engineers.",
        "scheduled_at": at,
        "media_urls": ["https://cdn.example.com/team.png"]
    });
    let (status, post) = api.post("/api/v1/posts", body).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert!(id(&post).starts_with("post_"), "{post}");
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["text"], "We are hiring engineers.");
    assert_eq!(
        post["media_urls"],
        json!(["https://cdn.example.com/team.png"])
    );
    for field in [
        "published_at",
        "failure_reason",
        "linkedin_url",
        "failed_at",
    ] {
        assert_eq!(post[field], Value::Null, "{field} in {post}");
    }
    assert_eq!(post["scheduled_at"], json!(at));

    let (status, fetched) = api.get(&format!("/api/v1/posts/{}", id(&post))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, post);

    let second = schedule(&api, "Second", 600).await;
    let (status, published) = api
        .post(
            &format!("/api/v1/posts/{}/result", id(&second)),
            json!({"outcome": "published", "linkedin_url": LINKEDIN_POST}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");

    let (_, page) = api.get("/api/v1/posts?limit=1").await;
    assert_eq!(ids(&page), [id(&second)]);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let (_, page) = api
        .get(&format!("/api/v1/posts?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&page), [id(&post)]);
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, listed) = api.get("/api/v1/posts?status=scheduled").await;
    assert_eq!(ids(&listed), [id(&post)]);
    let (_, listed) = api.get("/api/v1/posts?status=published").await;
    assert_eq!(ids(&listed), [id(&second)]);
    assert_eq!(listed["data"][0]["linkedin_url"], LINKEDIN_POST);
    let (_, listed) = api.get("/api/v1/posts?status=failed").await;
    assert_eq!(listed["data"], json!([]));

    let result = api.get("/api/v1/posts?status=draft").await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("status"),
    );
    let result = api.get("/api/v1/posts?stage=new").await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("stage"),
    );
    let result = api.get("/api/v1/posts?cursor=bm9wZQ").await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("cursor"),
    );

    // Another workspace sees none of it.
    let (_, stranger) = api.workspace("other", Plan::Pro).await;
    let path = format!("/api/v1/posts/{}", id(&post));
    let result = api.call_as(&stranger, Method::GET, &path, None).await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api
        .call_as(&stranger, Method::GET, "/api/v1/posts", None)
        .await;
    assert_eq!(result.1["data"], json!([]), "{}", result.1);
}

#[tokio::test]
async fn bad_post_bodies_name_the_field_and_write_nothing() {
    let api = Api::start().await;
    let soon = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    let https = "https://cdn.example.com/a.png";
    let bad = [
        (json!({"text": "", "scheduled_at": soon}), "text"),
        (
            json!({"text": "x".repeat(3_001), "scheduled_at": soon}),
            "text",
        ),
        (json!({"scheduled_at": soon}), "text"),
        (json!({"text": "x"}), "scheduled_at"),
        (json!({"text": "x", "scheduled_at": past}), "scheduled_at"),
        (
            json!({"text": "x", "scheduled_at": "tomorrow"}),
            "scheduled_at",
        ),
        (
            json!({"text": "x", "scheduled_at": soon, "media_urls": ["http://cdn.example.com/a"]}),
            "media_urls[0]",
        ),
        (
            json!({"text": "x", "scheduled_at": soon, "media_urls": [https, "not a url"]}),
            "media_urls[1]",
        ),
        (
            json!({"text": "x", "scheduled_at": soon, "media_urls": vec![https; 10]}),
            "media_urls",
        ),
        (
            json!({"text": "x", "scheduled_at": soon, "status": "published"}),
            "status",
        ),
    ];
    for (body, field) in bad {
        let result = api.post("/api/v1/posts", body).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let (_, listed) = api.get("/api/v1/posts").await;
    assert_eq!(listed["data"], json!([]), "nothing was written");

    let longest =
        json!({"text": "é".repeat(3_000), "scheduled_at": soon, "media_urls": vec![https; 9]});
    let (status, post) = api.post("/api/v1/posts", longest).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
}

#[tokio::test]
async fn a_publish_result_moves_the_post_once_and_a_repeat_changes_nothing() {
    let api = Api::start().await;
    let (status, _) = api
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["post.published", "post.failed"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let post = schedule(&api, "Launch day", 60).await;
    let result_path = format!("/api/v1/posts/{}/result", id(&post));

    let published = json!({"outcome": "published", "linkedin_url": LINKEDIN_POST});
    let (status, first) = api.post(&result_path, published.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "published");
    assert_eq!(first["linkedin_url"], LINKEDIN_POST);
    assert!(first["published_at"].is_string(), "{first}");
    let event_id = first["event_id"].as_str().unwrap();
    assert!(event_id.starts_with("evt_"), "{first}");
    assert_eq!(pending_deliveries(&api).await, 1);

    // The engine retrying the same report gets the same answer, and no second event.
    let (status, again) = api.post(&result_path, published).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    assert_eq!(pending_deliveries(&api).await, 1);

    let failed = json!({"outcome": "failed", "reason": "linkedin_rejected"});
    let result = api.post(&result_path, failed.clone()).await;
    assert_error(&result, StatusCode::CONFLICT, "conflict", None);
    let message = result.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("published"), "{message}");
    let (_, stored) = api.get(&format!("/api/v1/posts/{}", id(&post))).await;
    assert_eq!(stored["status"], "published", "{stored}");

    let other = schedule(&api, "Rejected", 60).await;
    let other_path = format!("/api/v1/posts/{}/result", id(&other));
    let failed = json!({"outcome": "failed", "reason": "linkedin_rejected", "detail": "spam"});
    let (status, rejected) = api.post(&other_path, failed).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "failed");
    assert_eq!(rejected["failure_reason"], "linkedin_rejected");
    assert_eq!(rejected["failure_detail"], "spam");
    assert!(rejected["failed_at"].is_string(), "{rejected}");
    assert_ne!(rejected["event_id"], first["event_id"]);
    assert_eq!(pending_deliveries(&api).await, 2);

    let result = api
        .post(
            "/api/v1/posts/post_01J00000000000000000000000/result",
            json!({"outcome": "failed", "reason": "other"}),
        )
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn bad_result_reports_name_the_field_and_leave_the_post_scheduled() {
    let api = Api::start().await;
    let post = schedule(&api, "Pending", 60).await;
    let path = format!("/api/v1/posts/{}/result", id(&post));
    let bad = [
        (json!({}), "outcome"),
        (json!({"outcome": "exploded"}), "outcome"),
        (json!({"outcome": "published"}), "linkedin_url"),
        (
            json!({"outcome": "published", "linkedin_url": "https://example.com/p/1"}),
            "linkedin_url",
        ),
        (
            json!({"outcome": "published", "linkedin_url": LINKEDIN_POST, "reason": "other"}),
            "reason",
        ),
        (json!({"outcome": "failed"}), "reason"),
        (json!({"outcome": "failed", "reason": "not_run"}), "reason"),
        (json!({"outcome": "failed", "reason": "sunspots"}), "reason"),
        (
            json!({"outcome": "failed", "reason": "other", "detail": "x".repeat(1_001)}),
            "detail",
        ),
        (
            json!({"outcome": "failed", "reason": "other", "linkedin_url": LINKEDIN_POST}),
            "linkedin_url",
        ),
        (
            json!({"outcome": "failed", "reason": "other", "at": "now"}),
            "at",
        ),
    ];
    for (body, field) in bad {
        let result = api.post(&path, body).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let (_, stored) = api.get(&format!("/api/v1/posts/{}", id(&post))).await;
    assert_eq!(stored, post, "nothing changed");
}

#[tokio::test]
async fn a_campaign_completes_as_soon_as_its_leads_reach_the_target() {
    let api = Api::start().await;
    let body = json!({
        "name": "Two leads",
        "targeting": {"source": "manual"},
        "steps": [{"type": "invite"}],
        "target_leads": 2
    });
    let (status, campaign) = api.post("/api/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let path = format!("/api/v1/campaigns/{}", id(&campaign));
    for n in 1..=2 {
        let (_, current) = api.get(&path).await;
        assert_eq!(current["status"], "active", "before lead {n}: {current}");
        assert_eq!(current["completed_at"], Value::Null);
        let lead = json!({"name": format!("Lead {n}"), "campaign_id": id(&campaign)});
        let (status, lead) = api.post("/api/v1/leads", lead).await;
        assert_eq!(status, StatusCode::CREATED, "{lead}");
    }
    let (_, completed) = api.get(&path).await;
    assert_eq!(completed["status"], "completed", "{completed}");
    assert!(completed["completed_at"].is_string(), "{completed}");
}
