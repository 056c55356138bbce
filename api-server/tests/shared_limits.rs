//! Rate limits shared by API replicas through a real Redis, and what the API does while
//! Redis is away: it keeps answering, counts per process, says so in its metrics, and
//! shares the limits again once Redis is back.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use socialscalr_api_server::AppState;
use socialscalr_core::crypto::SecretBox;
use socialscalr_core::model::{NewToken, Scope};
use socialscalr_core::plan::Plan;
use socialscalr_core::ratelimit::Limiter;
use socialscalr_core::store::Store;
use socialscalr_core::target::TargetPolicy;
use socialscalr_core::testing::{PrivateServices, REDIS_URL_VAR, service_url};
use socialscalr_core::token;
use socialscalr_metrics::{ApiMetrics, Metrics};

struct Replica {
    base: String,
    metrics: Metrics,
}

/// A store with a starter workspace (100 requests a minute) and an admin token of it.
async fn store_with_token(dir: &tempfile::TempDir) -> (Arc<dyn Store>, String, String) {
    let url = format!("sqlite://{}/api.db", dir.path().display());
    let store = socialscalr_core::store::open(&url).await.unwrap();
    let workspace = store.create_workspace("acme", Plan::Starter).await.unwrap();
    let issued = token::issue();
    let admin = NewToken {
        scopes: vec![Scope::Admin],
        ..NewToken::named("test")
    };
    store
        .create_token(&workspace.id, &admin, &issued)
        .await
        .unwrap();
    (store, workspace.id, issued.token)
}

/// An API server on its own Redis limiter, as one pod of a Deployment.
async fn replica(store: &Arc<dyn Store>, redis_url: &str) -> Replica {
    let limiter = Arc::new(Limiter::redis(redis_url).unwrap());
    let metrics = Metrics::new("api-server", 100);
    socialscalr_metrics::register_limiter(&metrics, Arc::clone(&limiter));
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let mut state = AppState::new(
        Arc::clone(store),
        secrets,
        TargetPolicy {
            allow_loopback: false,
        },
    );
    state.limiter = limiter;
    state.metrics = ApiMetrics::register(&metrics);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(socialscalr_api_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Replica { base, metrics }
}

struct Answer {
    status: StatusCode,
    remaining: u32,
    reset: i64,
    retry_after: Option<u64>,
}

async fn call(client: &Client, base: &str, token: &str) -> Answer {
    let response = client
        .get(format!("{base}/api/v1/workspace"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let number = |name: &str| header(name).unwrap_or_else(|| panic!("no {name} header"));
    Answer {
        status: response.status(),
        remaining: number("x-ratelimit-remaining").parse().unwrap(),
        reset: number("x-ratelimit-reset").parse().unwrap(),
        retry_after: header("retry-after").map(|value| value.parse().unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_workspace_limit_through_redis() {
    let Some(redis_url) = service_url(REDIS_URL_VAR) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, workspace_id, token) = store_with_token(&dir).await;
    let replicas = [
        replica(&store, &redis_url).await,
        replica(&store, &redis_url).await,
    ];
    let client = Client::builder().no_proxy().build().unwrap();

    // 120 requests spread over both pods, ten at a time.
    let mut answers = Vec::new();
    for round in 0..12 {
        let calls: Vec<_> = (0..10)
            .map(|n| {
                let base = replicas[(round + n) % 2].base.clone();
                let (client, token) = (client.clone(), token.clone());
                tokio::spawn(async move { call(&client, &base, &token).await })
            })
            .collect();
        for handle in calls {
            answers.push(handle.await.unwrap());
        }
    }

    let ok: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .collect();
    assert_eq!(
        ok.len(),
        100,
        "the starter plan's 100 a minute, across both pods"
    );
    let mut remaining: Vec<u32> = ok.iter().map(|a| a.remaining).collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..100).collect::<Vec<_>>(),
        "each request is counted once"
    );
    let limited: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(limited.len(), 20);
    for answer in &limited {
        assert_eq!(answer.remaining, 0);
        assert!(answer.retry_after.is_some_and(|s| (1..=60).contains(&s)));
    }
    // Both pods date the window from the same first request, by Redis's clock.
    let resets: std::collections::HashSet<i64> = answers.iter().map(|a| a.reset).collect();
    assert_eq!(resets.len(), 1, "{resets:?}");

    let refused: u64 = replicas
        .iter()
        .map(|r| {
            sample(
                &r.metrics,
                "socialscalr_api_rate_limited_total",
                &workspace_id,
            )
        })
        .sum();
    assert_eq!(refused, 20);
    for replica in &replicas {
        let text = replica.metrics.encode();
        assert!(text.contains(r#"socialscalr_ratelimit_degraded{backend="redis"} 0"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_counts_per_process_while_redis_is_away_and_shares_again_after() {
    if service_url(REDIS_URL_VAR).is_none() {
        return;
    }
    let services = PrivateServices::start();
    let dir = tempfile::tempdir().unwrap();
    let (store, _workspace_id, token) = store_with_token(&dir).await;
    let pod = replica(&store, services.redis_url()).await;
    let client = Client::builder().no_proxy().build().unwrap();
    for _ in 0..5 {
        assert_eq!(
            call(&client, &pod.base, &token).await.status,
            StatusCode::OK
        );
    }

    services.kill_redis();
    // Requests keep being answered, limited and with their headers, by this pod alone.
    let answers = [
        call(&client, &pod.base, &token).await,
        call(&client, &pod.base, &token).await,
    ];
    assert!(answers.iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(
        answers[1].remaining, 98,
        "counting starts over in the process"
    );
    let degraded = r#"socialscalr_ratelimit_degraded{backend="redis"} 1"#;
    assert!(
        pod.metrics.encode().contains(degraded),
        "{}",
        pod.metrics.encode()
    );
    assert!(
        sample(
            &pod.metrics,
            "socialscalr_ratelimit_backend_errors_total",
            ""
        ) >= 1
    );

    services.start_redis();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let shared = r#"socialscalr_ratelimit_degraded{backend="redis"} 0"#;
    while !pod.metrics.encode().contains(shared) {
        assert!(tokio::time::Instant::now() < deadline, "no return to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new Redis starts empty: the pod counts there again.
    let answer = call(&client, &pod.base, &token).await;
    assert_eq!((answer.status, answer.remaining), (StatusCode::OK, 99));
}

/// The value of `family` on the line that mentions `label` (any line when empty).
fn sample(metrics: &Metrics, family: &str, label: &str) -> u64 {
    metrics
        .encode()
        .lines()
        .filter(|line| line.starts_with(family) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
