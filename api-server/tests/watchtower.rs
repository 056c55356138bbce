//! Watchtower, plan gates and cancelled workspaces over a real bound port, on a real
//! SQLite store in a temporary directory.

mod common;

use std::time::Duration;

use common::{Api, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use socialscalr_core::event::EventType;
use socialscalr_core::model::{NewMember, Role};
use socialscalr_core::plan::Plan;
use socialscalr_core::store::{ClaimRequest, ClaimedDelivery};
use socialscalr_core::{tenancy, time};

const SIGNALS: &str = "/api/v1/watchtower/signals";

/// Every delivery due now, as a dispatcher would claim them.
async fn claim_deliveries(api: &Api) -> Vec<ClaimedDelivery> {
    let request = ClaimRequest {
        worker: "test",
        now: time::now() + chrono::Duration::seconds(1),
        lease: Duration::from_secs(60),
        limit: 100,
        per_endpoint: 100,
        per_workspace: 1_000,
        skip_endpoints: &[],
        skip_workspaces: &[],
    };
    api.store.claim_deliveries(&request).await.unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_signal(api: &Api, token: &str, body: Value) -> Value {
    let (status, created) = api.post_as(token, SIGNALS, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn create_lead(api: &Api, token: &str, name: &str) -> String {
    let (status, lead) = api
        .post_as(token, "/api/v1/leads", json!({"name": name}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    lead["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn watchtower_answers_403_plan_required_below_the_pro_plan() {
    let api = Api::start().await;
    let body = json!({"type": "funding", "company": "Northwind", "title": "Series B"});
    for (name, plan) in [("free", Plan::Free), ("starter", Plan::Starter)] {
        let token = api.token_for(name, plan).await;
        let listed = api.get_as(&token, SIGNALS).await;
        assert_error(&listed, StatusCode::FORBIDDEN, "plan_required", None);
        let created = api.post_as(&token, SIGNALS, body.clone()).await;
        assert_error(&created, StatusCode::FORBIDDEN, "plan_required", None);
    }

    let starter = api.token_for("starter-2", Plan::Starter).await;
    let (_, refused) = api.get_as(&starter, SIGNALS).await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Watchtower") && message.contains("pro plan"),
        "{message}"
    );
    let unreadable = api
        .post_as(&starter, SIGNALS, json!({"nonsense": true}))
        .await;
    assert_error(&unreadable, StatusCode::FORBIDDEN, "plan_required", None);
    let (status, _) = api.get_as(&starter, "/api/v1/leads").await;
    assert_eq!(status, StatusCode::OK, "the rest of the API stays open");
}

#[tokio::test]
async fn pro_and_agency_workspaces_record_and_list_their_own_signals() {
    let api = Api::start().await;
    let pro = api.token_for("pro", Plan::Pro).await;
    let agency = api.token_for("agency", Plan::Agency).await;
    let body = json!({"type": "hiring", "company": "Northwind", "title": "Hiring 5 SDRs"});
    let from_pro = create_signal(&api, &pro, body.clone()).await;
    let from_agency = create_signal(&api, &agency, body).await;

    for (token, own, other) in [
        (&pro, &from_pro, &from_agency),
        (&agency, &from_agency, &from_pro),
    ] {
        let (status, list) = api.get_as(token, SIGNALS).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(ids(&list), vec![own["id"].as_str().unwrap()]);
        assert_eq!(list["next_cursor"], Value::Null);
        let foreign = format!("{SIGNALS}/{}", other["id"].as_str().unwrap());
        let answer = api.get_as(token, &foreign).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found", None);
    }
}

#[tokio::test]
async fn an_ingested_signal_emits_watchtower_alert_with_the_signal_and_its_lead() {
    let api = Api::start().await;
    let token = api.token_for("watch", Plan::Pro).await;
    let webhook = json!({"url": "http://127.0.0.1:9/hook", "events": ["watchtower.alert"]});
    let (status, endpoint) = api.post_as(&token, "/api/v1/webhooks", webhook).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let lead_id = create_lead(&api, &token, "Sarah Chen").await;

    let created = create_signal(
        &api,
        &token,
        json!({
            "type": "job_change",
            "lead_id": lead_id,
            "title": "Sarah Chen is now VP Sales at Northwind",
            "detail": "Moved from Contoso after four years.",
            "url": "https://www.linkedin.com/in/sarahchen",
            "occurred_at": "2026-05-20T09:30:00Z"
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("sig_"), "{created}");
    assert_eq!(created["type"], "job_change");
    assert_eq!(created["occurred_at"], "2026-05-20T09:30:00Z");
    let event_id = created["event_id"].as_str().unwrap();

    let claimed = claim_deliveries(&api).await;
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0].event_id, event_id);
    assert_eq!(claimed[0].event_type, EventType::WatchtowerAlert);
    let envelope: Value = serde_json::from_str(&claimed[0].payload).unwrap();
    let mut signal = created.clone();
    signal.as_object_mut().unwrap().remove("event_id");
    assert_eq!(envelope["data"]["signal"], signal);
    assert_eq!(envelope["data"]["lead"]["id"], lead_id.as_str());
    assert_eq!(envelope["data"]["lead"]["name"], "Sarah Chen");

    let (status, fetched) = api.get_as(&token, &format!("{SIGNALS}/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, signal);
    let company_only = json!({"type": "funding", "company": "Northwind", "title": "Series B"});
    create_signal(&api, &token, company_only).await;
    let claimed = claim_deliveries(&api).await;
    let envelope: Value = serde_json::from_str(&claimed[0].payload).unwrap();
    assert_eq!(envelope["data"]["lead"], Value::Null);
}

#[tokio::test]
async fn bad_signal_bodies_name_the_field_and_write_nothing() {
    let api = Api::start().await;
    let token = api.token_for("watch", Plan::Pro).await;
    let other = api.token_for("other", Plan::Pro).await;
    let foreign_lead = create_lead(&api, &other, "Not Yours").await;
    let valid = json!({"type": "hiring", "title": "Hiring"});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("type", json!("weather")), "type"),
        (json!({"title": "No type"}), "type"),
        (json!({"type": "hiring"}), "title"),
        (with("title", json!("")), "title"),
        (with("title", json!("x".repeat(301))), "title"),
        (with("title", json!(7)), "title"),
        (with("url", json!("http://example.com/news")), "url"),
        (with("url", json!("example.com/news")), "url"),
        (with("occurred_at", json!("yesterday")), "occurred_at"),
        (with("detail", json!("d".repeat(4_001))), "detail"),
        (with("company", json!("")), "company"),
        (
            with("lead_id", json!("ld_01J00000000000000000000000")),
            "lead_id",
        ),
        (with("lead_id", json!(foreign_lead)), "lead_id"),
        (with("severity", json!("high")), "severity"),
    ];
    for (body, field) in cases {
        let answer = api.post_as(&token, SIGNALS, body.clone()).await;
        assert_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let longest = create_signal(&api, &token, with("title", json!("é".repeat(300)))).await;
    let (_, list) = api.get_as(&token, SIGNALS).await;
    assert_eq!(ids(&list), vec![longest["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn signal_filters_and_pages_select_the_right_signals() {
    let api = Api::start().await;
    let token = api.token_for("watch", Plan::Agency).await;
    let lead_id = create_lead(&api, &token, "Sarah Chen").await;
    let mut created = Vec::new();
    for (kind, lead) in [
        ("job_change", Some(&lead_id)),
        ("funding", None),
        ("post_mention", None),
        ("profile_view", Some(&lead_id)),
    ] {
        let mut body = json!({"type": kind, "title": format!("A {kind}")});
        if let Some(lead) = lead {
            body["lead_id"] = json!(lead);
        }
        let signal = create_signal(&api, &token, body).await;
        created.push(signal["id"].as_str().unwrap().to_owned());
    }
    created.reverse();
    let newest_first = created;
    let list = |query: String| {
        let (api, token) = (&api, &token);
        async move {
            let (status, body) = api.get_as(token, &format!("{SIGNALS}?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };

    assert_eq!(ids(&list(String::new()).await), newest_first);
    assert_eq!(
        ids(&list("type=funding".into()).await),
        vec![newest_first[2].clone()]
    );
    let by_lead = list(format!("lead_id={lead_id}")).await;
    assert_eq!(
        ids(&by_lead),
        vec![newest_first[0].clone(), newest_first[3].clone()]
    );
    assert_eq!(ids(&list("since=24h".into()).await), newest_first);
    assert_eq!(
        ids(&list("since=2019-06-01T00:00:00Z".into()).await),
        newest_first
    );
    assert!(ids(&list("since=2999-01-01T00:00:00Z".into()).await).is_empty());
    let combined = list(format!("type=profile_view&lead_id={lead_id}&since=7d")).await;
    assert_eq!(ids(&combined), vec![newest_first[0].clone()]);

    let mut seen = Vec::new();
    let mut query = "limit=3".to_owned();
    loop {
        let page = list(query).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    let bad = [
        ("type=weather", "type"),
        ("type=", "type"),
        ("lead_id=", "lead_id"),
        ("since=24", "since"),
        ("since=1.5h", "since"),
        ("since=99999999999999999999999h", "since"),
        ("since=", "since"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=nonsense", "cursor"),
        ("stage=replied", "stage"),
        ("type=funding&type=hiring", "type"),
    ];
    for (query, field) in bad {
        let answer = api.get_as(&token, &format!("{SIGNALS}?{query}")).await;
        assert_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
}

#[tokio::test]
async fn a_cancelled_workspace_s_tokens_get_403_workspace_cancelled() {
    let api = Api::start().await;
    let token = api.token_for("watch", Plan::Pro).await;
    let other = api.token_for("other", Plan::Pro).await;
    let (status, _) = api.get_as(&token, "/api/v1/leads").await;
    assert_eq!(status, StatusCode::OK);

    tenancy::cancel(api.store.as_ref(), "watch").await.unwrap();
    for path in [
        "/api/v1/leads",
        SIGNALS,
        "/api/v1/webhooks",
        "/api/v1/workspace",
    ] {
        let answer = api.get_as(&token, path).await;
        assert_error(&answer, StatusCode::FORBIDDEN, "workspace_cancelled", None);
    }
    let answer = api
        .post_as(&token, "/api/v1/leads", json!({"name": "After"}))
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "workspace_cancelled", None);
    let (status, _) = api.get_as(&other, "/api/v1/leads").await;
    assert_eq!(status, StatusCode::OK, "other workspaces are untouched");
}

#[tokio::test]
async fn the_workspace_endpoint_shows_the_callers_plan_and_members() {
    let api = Api::start().await;
    let token = api.token_for("watch", Plan::Starter).await;
    let owner = NewMember {
        email: "Ana@Example.com".into(),
        role: Role::Owner,
    };
    tenancy::add_member(api.store.as_ref(), "watch", &owner)
        .await
        .unwrap();
    tenancy::set_plan(api.store.as_ref(), "watch", Plan::Agency)
        .await
        .unwrap();

    let (status, workspace) = api.get_as(&token, "/api/v1/workspace").await;
    assert_eq!(status, StatusCode::OK, "{workspace}");
    assert_eq!(workspace["name"], "watch");
    assert_eq!(workspace["plan"], "agency");
    assert_eq!(workspace["cancelled_at"], Value::Null);
    let members = workspace["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["email"], "ana@example.com");
    assert_eq!(members[0]["role"], "owner");
}
