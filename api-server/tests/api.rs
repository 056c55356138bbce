//! The REST API over a real bound port, on a real SQLite store in a temporary directory.

mod common;

use common::{Api, assert_error};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use socialscalr_api_server::MAX_BODY_BYTES;
use socialscalr_core::plan::Plan;
use socialscalr_core::token;

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_with_401() {
    let api = Api::start().await;
    let url = format!("{}/api/v1/leads", api.base);
    let response = api.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    for header in [
        "Basic abc",
        "Bearer",
        "Bearer ssk_nope",
        "bearer ssk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ] {
        let response = api
            .client
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    let issued = token::parse(&api.token).unwrap();
    let forged = format!("ssk_{}_{}", issued.public_id, "A".repeat(32));
    let result = api
        .call_as(&forged, Method::GET, "/api/v1/leads", None)
        .await;
    assert_error(&result, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let lowercase_scheme = api
        .client
        .get(&url)
        .header("authorization", format!("bearer {}", api.token));
    assert_eq!(
        lowercase_scheme.send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_free_workspace_gets_403_plan_required() {
    let api = Api::start().await;
    let free = api.token_for("freebie", Plan::Free).await;
    let result = api.call_as(&free, Method::GET, "/api/v1/leads", None).await;
    assert_error(&result, StatusCode::FORBIDDEN, "plan_required", None);
    assert!(
        result.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("starter")
    );
}

#[tokio::test]
async fn bad_lead_bodies_name_the_field_and_write_nothing() {
    let api = Api::start().await;
    let cases = [
        (json!({"name": "A", "nickname": "x"}), "nickname"),
        (json!({"name": 42}), "name"),
        (json!({"name": "A", "stage": "sleeping"}), "stage"),
        (json!({"name": "A", "tags": "vip"}), "tags"),
        (json!({"name": "A", "tags": ["ok", 3]}), "tags[1]"),
        (
            json!({"linkedin_url": "https://example.com/in/a"}),
            "linkedin_url",
        ),
        (json!({"name": "A", "email": "nope"}), "email"),
        (
            json!({"name": "A", "custom_fields": {"k": [1]}}),
            "custom_fields.k",
        ),
        (
            json!({"name": "A", "campaign_id": "cmp_01J00000000000000000000000"}),
            "campaign_id",
        ),
        (json!({}), "linkedin_url"),
        (json!(["Array Lead", null, "x@y.com"]), "body"),
        (
            json!({"name": "A", "custom_fields": {"k": "bell\u{7}"}}),
            "custom_fields.k",
        ),
    ];
    for (body, field) in cases {
        let result = api.post("/api/v1/leads", body.clone()).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let (_, list) = api.get("/api/v1/leads").await;
    assert_eq!(list, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_are_refused() {
    let api = Api::start().await;
    let url = format!("{}/api/v1/leads", api.base);
    let send = |body: Vec<u8>, content_type: &'static str| {
        api.client
            .post(&url)
            .bearer_auth(&api.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send(b"{\"name\": ".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );

    let response = send(br#"{"name": "A"}"#.to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let response = send(huge.into_bytes(), "application/json").await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );

    // Without a Content-Length the limit holds while the body streams in.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..(MAX_BODY_BYTES / 1024 + 2))
        .map(|_| Ok(vec![b' '; 1024]))
        .collect();
    let stream = reqwest::Body::wrap_stream(futures_stream(chunks));
    let response = api
        .client
        .post(&url)
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(stream)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let (_, list) = api.get("/api/v1/leads").await;
    assert_eq!(list["data"], json!([]));
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn leads_are_created_read_patched_and_isolated_per_workspace() {
    let api = Api::start().await;
    let id = api
        .lead(json!({
            "name": "Sarah Chen",
            "linkedin_url": "https://www.linkedin.com/in/sarahchen",
            "tags": ["vip"]
        }))
        .await;
    let (status, lead) = api.get(&format!("/api/v1/leads/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lead["stage"], "new");
    assert_eq!(lead["notes"], json!([]));

    let (status, patched) = api
        .patch(
            &format!("/api/v1/leads/{id}"),
            json!({
                "stage": "interested",
                "owner": "ana",
                "note": "Warm intro",
                "custom_fields": {"deal": 1200}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["stage"], "interested");
    assert_eq!(patched["owner"], "ana");
    assert_eq!(patched["custom_fields"]["deal"], 1200);
    assert_eq!(patched["notes"][0]["text"], "Warm intro");

    let result = api.patch(&format!("/api/v1/leads/{id}"), json!({})).await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("body"),
    );
    let result = api
        .patch(&format!("/api/v1/leads/{id}"), json!({"stage": "done"}))
        .await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("stage"),
    );

    let other = api.token_for("other", Plan::Starter).await;
    let result = api
        .call_as(&other, Method::GET, &format!("/api/v1/leads/{id}"), None)
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api
        .call_as(
            &other,
            Method::PATCH,
            &format!("/api/v1/leads/{id}"),
            Some(json!({"stage": "won"})),
        )
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api
        .call_as(
            &other,
            Method::POST,
            &format!("/api/v1/leads/{id}/messages"),
            Some(json!({"direction": "inbound", "text": "x"})),
        )
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let (_, list) = api
        .call_as(&other, Method::GET, "/api/v1/leads", None)
        .await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn messages_and_activities_move_the_lead_and_report_their_event() {
    let api = Api::start().await;
    let id = api.lead(json!({"name": "A", "stage": "invited"})).await;
    let (status, activity) = api
        .post(
            &format!("/api/v1/leads/{id}/activities"),
            json!({"type": "connected"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{activity}");
    assert!(activity["event_id"].as_str().unwrap().starts_with("evt_"));
    let (_, lead) = api.get(&format!("/api/v1/leads/{id}")).await;
    assert_eq!(lead["stage"], "connected");

    let (status, outbound) = api
        .post(
            &format!("/api/v1/leads/{id}/messages"),
            json!({"direction": "outbound", "text": "Hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(outbound["event_id"], Value::Null);
    let (status, inbound) = api
        .post(
            &format!("/api/v1/leads/{id}/messages"),
            json!({"direction": "inbound", "text": "Sure"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(inbound["event_id"].as_str().unwrap().starts_with("evt_"));
    let (_, lead) = api.get(&format!("/api/v1/leads/{id}")).await;
    assert_eq!(lead["stage"], "replied");
    assert_eq!(lead["messages"].as_array().unwrap().len(), 2);

    let bad = [
        (json!({"direction": "sideways", "text": "x"}), "direction"),
        (json!({"direction": "inbound", "text": ""}), "text"),
        (json!({"direction": "inbound"}), "text"),
        (
            json!({"direction": "inbound", "text": "x", "sent_at": "yesterday"}),
            "sent_at",
        ),
        (
            json!({"direction": "inbound", "text": "x", "sent_at": "2999-01-01T00:00:00Z"}),
            "sent_at",
        ),
        (
            json!({"direction": "inbound", "text": "x", "sent_at": "0000-01-01T00:00:00+23:59"}),
            "sent_at",
        ),
    ];
    for (body, field) in bad {
        let result = api
            .post(&format!("/api/v1/leads/{id}/messages"), body)
            .await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let result = api
        .post(
            &format!("/api/v1/leads/{id}/activities"),
            json!({"type": "exploded"}),
        )
        .await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("type"),
    );
    let (_, lead) = api.get(&format!("/api/v1/leads/{id}")).await;
    assert_eq!(
        lead["messages"].as_array().unwrap().len(),
        2,
        "refused reports wrote nothing"
    );
}

#[tokio::test]
async fn lead_filters_and_since_durations_select_the_right_leads() {
    let api = Api::start().await;
    let replied = api
        .lead(json!({"name": "Replied", "tags": ["vip"], "owner": "ana"}))
        .await;
    api.post(
        &format!("/api/v1/leads/{replied}/messages"),
        json!({"direction": "inbound", "text": "Yes"}),
    )
    .await;
    let old = api.lead(json!({"name": "Old"})).await;
    api.post(
        &format!("/api/v1/leads/{old}/messages"),
        json!({"direction": "inbound", "text": "Long ago", "sent_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    api.lead(json!({"name": "Quiet", "tags": ["vip"]})).await;

    let names = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, found) = api.get("/api/v1/leads?stage=replied&since=24h").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&found), vec!["Replied"]);
    let (_, found) = api
        .get("/api/v1/leads?stage=replied&since=2019-06-01T00:00:00Z")
        .await;
    assert_eq!(names(&found), vec!["Old", "Replied"]);
    let (_, found) = api
        .get("/api/v1/leads?stage=replied&since=2019-06-01T00:00:00%2B02:00")
        .await;
    assert_eq!(names(&found), vec!["Old", "Replied"]);
    let (_, found) = api.get("/api/v1/leads?tag=vip").await;
    assert_eq!(names(&found), vec!["Quiet", "Replied"]);
    let (_, found) = api.get("/api/v1/leads?owner=ana").await;
    assert_eq!(names(&found), vec!["Replied"]);
    let (_, found) = api
        .get("/api/v1/leads?last_activity_before=2021-01-01T00:00:00Z")
        .await;
    assert_eq!(names(&found), vec!["Old"]);
    let (_, found) = api
        .get("/api/v1/leads?since=90m&last_activity_after=2019-01-01T00:00:00Z")
        .await;
    assert_eq!(names(&found), vec!["Replied"]);

    let bad = [
        ("since=24", "since"),
        ("since=1.5h", "since"),
        ("since=-1h", "since"),
        ("since=99999999999999999999999h", "since"),
        ("since=18446744073709551615w", "since"),
        ("since=", "since"),
        ("stage=sleeping", "stage"),
        ("last_activity_after=tuesday", "last_activity_after"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=nonsense", "cursor"),
        ("colour=red", "colour"),
        ("stage=new&stage=replied", "stage"),
    ];
    for (query, field) in bad {
        let result = api.get(&format!("/api/v1/leads?{query}")).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
}

#[tokio::test]
async fn cursor_pages_cover_every_lead_once() {
    let api = Api::start().await;
    let mut created = Vec::new();
    for n in 0..12 {
        created.push(api.lead(json!({"name": format!("L{n}")})).await);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/leads?limit=5".to_owned();
    loop {
        let (status, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page["data"].as_array().unwrap().len() <= 5);
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/leads?limit=5&cursor={cursor}"),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);

    let (_, campaigns) = api.get("/api/v1/campaigns").await;
    let lead_cursor = {
        let (_, page) = api.get("/api/v1/leads?limit=1").await;
        page["next_cursor"].as_str().unwrap().to_owned()
    };
    assert_eq!(campaigns["data"], json!([]));
    let result = api
        .get(&format!("/api/v1/campaigns?cursor={lead_cursor}"))
        .await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("cursor"),
    );
}

#[tokio::test]
async fn campaigns_are_created_listed_and_scope_their_leads() {
    let api = Api::start().await;
    let body = json!({
        "name": "Founders Q3",
        "targeting": {
            "source": "sales_navigator",
            "url": "https://www.linkedin.com/sales/search/people?q=1"
        },
        "steps": [
            {"type": "invite", "text": "Hi {{first_name}}"},
            {"type": "message", "delay_days": 3, "text": "Thanks for connecting"}
        ],
        "ends_at": "2027-01-31T00:00:00Z",
        "target_leads": 250
    });
    let (status, campaign) = api.post("/api/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["status"], "active");
    assert_eq!(campaign["ends_at"], "2027-01-31T00:00:00Z");
    let id = campaign["id"].as_str().unwrap();

    let inside = api.lead(json!({"name": "In", "campaign_id": id})).await;
    api.lead(json!({"name": "Out"})).await;
    let (status, leads) = api.get(&format!("/api/v1/campaigns/{id}/leads")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = leads["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![inside.as_str()]);
    let (_, listed) = api.get("/api/v1/campaigns").await;
    assert_eq!(listed["data"][0]["id"], id);
    let (status, _) = api.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    let result = api
        .get("/api/v1/campaigns/cmp_01J00000000000000000000000/leads")
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api
        .get(&format!("/api/v1/campaigns/{id}/leads?campaign_id={id}"))
        .await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("campaign_id"),
    );
    let bad = [
        (
            json!({"name": "x", "targeting": {"source": "manual"}, "steps": []}),
            "steps",
        ),
        (
            json!({
                "name": "x",
                "targeting": {"source": "carrier_pigeon"},
                "steps": [{"type": "invite"}]
            }),
            "targeting.source",
        ),
        (
            json!({"name": "x", "targeting": {"source": "manual"}, "steps": [{"type": "message"}]}),
            "steps[0].text",
        ),
        (
            json!({
                "name": "x",
                "targeting": {"source": "manual"},
                "steps": [{"type": "invite"}],
                "target_leads": -1
            }),
            "target_leads",
        ),
        (
            json!({
                "name": "x",
                "targeting": {"source": "manual"},
                "steps": [{"type": "invite"}],
                "ends_at": "soon"
            }),
            "ends_at",
        ),
    ];
    for (body, field) in bad {
        let result = api.post("/api/v1/campaigns", body).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
}

#[tokio::test]
async fn webhooks_show_their_secret_once_and_keep_it_encrypted_at_rest() {
    let api = Api::start().await;
    let (status, created) = api
        .post(
            "/api/v1/webhooks",
            json!({
                "url": "http://127.0.0.1:9/hook",
                "events": ["lead.replied"],
                "description": "CRM"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = created["id"].as_str().unwrap();

    let (status, fetched) = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["events"], json!(["lead.replied"]));
    assert!(fetched.get("secret").is_none());
    let (_, listed) = api.get("/api/v1/webhooks").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("secret").is_none());

    for entry in std::fs::read_dir(api.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let haystack = String::from_utf8_lossy(&bytes);
        assert!(
            !haystack.contains(&secret[6..]),
            "the secret is stored in the clear"
        );
    }

    let (status, log) = api.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log, json!({"data": [], "next_cursor": null}));
    let result = api
        .get(&format!("/api/v1/webhooks/{id}/deliveries?limit=101"))
        .await;
    assert_error(
        &result,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("limit"),
    );

    let other = api.token_for("other", Plan::Starter).await;
    let result = api
        .call_as(
            &other,
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let (status, _) = api
        .call_as(
            &api.token,
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let result = api.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn bad_webhook_registrations_name_the_field() {
    let api = Api::start().await;
    let cases = [
        (
            json!({"url": "ftp://example.com", "events": ["lead.replied"]}),
            "url",
        ),
        (
            json!({"url": "not a url", "events": ["lead.replied"]}),
            "url",
        ),
        (
            json!({"url": "http://10.0.0.1/hook", "events": ["lead.replied"]}),
            "url",
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "events": ["lead.replied"]}),
            "url",
        ),
        (
            json!({"url": "http://[::ffff:a9fe:a9fe]/", "events": ["lead.replied"]}),
            "url",
        ),
        (
            json!({"url": "https://example.com/hook", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://example.com/hook", "events": ["lead.exploded"]}),
            "events[0]",
        ),
        (json!({"url": "https://example.com/hook"}), "events"),
        (
            json!({"url": "https://example.com/hook", "events": ["lead.replied"], "secret": "x"}),
            "secret",
        ),
    ];
    for (body, field) in cases {
        let result = api.post("/api/v1/webhooks", body).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(field),
        );
    }
    let (_, listed) = api.get("/api/v1/webhooks").await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn webhook_formats_are_detected_from_the_url_unless_given() {
    let api = Api::start().await;
    let cases = [
        (
            json!({"url": "https://hooks.slack.com/services/T0/B0/x"}),
            "slack",
        ),
        (
            json!({"url": "https://discord.com/api/webhooks/1/abc"}),
            "discord",
        ),
        (
            json!({"url": "https://discordapp.com/api/webhooks/1/abc"}),
            "discord",
        ),
        (json!({"url": "https://example.com/hooks"}), "json"),
        (
            json!({"url": "https://hooks.slack.com/services/T0/B0/x", "format": "json"}),
            "json",
        ),
        (
            json!({"url": "http://127.0.0.1:9/relay", "format": "discord"}),
            "discord",
        ),
        (
            json!({"url": "https://example.com/hooks", "format": null}),
            "json",
        ),
    ];
    let mut created = Vec::new();
    for (mut body, format) in cases {
        body["events"] = json!(["lead.replied"]);
        let (status, endpoint) = api.post("/api/v1/webhooks", body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{endpoint}");
        assert_eq!(endpoint["format"], format, "{body}");
        let id = endpoint["id"].as_str().unwrap().to_owned();
        let (_, fetched) = api.get(&format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(fetched["format"], format, "{body}");
        created.push((id, format));
    }
    let (_, listed) = api.get("/api/v1/webhooks").await;
    for (id, format) in created {
        let listed = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id.as_str())
            .unwrap();
        assert_eq!(listed["format"], format);
    }
}

#[tokio::test]
async fn an_unknown_webhook_format_is_refused_naming_the_field() {
    let api = Api::start().await;
    for format in [
        json!("teams"),
        json!("Slack"),
        json!(""),
        json!(1),
        json!(["slack"]),
    ] {
        let body = json!({
            "url": "https://hooks.slack.com/services/T0/B0/x",
            "events": ["lead.replied"],
            "format": format
        });
        let result = api.post("/api/v1/webhooks", body).await;
        assert_error(
            &result,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("format"),
        );
    }
    let (_, listed) = api.get("/api/v1/webhooks").await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let api = Api::start().await;
    let result = api.get("/api/v1/nothing-here").await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api
        .call_as(&api.token, Method::DELETE, "/api/v1/leads", None)
        .await;
    assert_error(
        &result,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    );
    let result = api.get("/api/v1/leads/ld_01J00000000000000000000000").await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api.get("/api/v1/leads/%FF").await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let result = api.get("/api/v1/leads/'%20OR%201=1").await;
    assert_error(&result, StatusCode::NOT_FOUND, "not_found", None);
    let (status, health) = api.get("/healthz").await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    let (status, _) = api.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
}
