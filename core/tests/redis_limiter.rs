//! The Redis limiter against a real Redis: two limiters on one server behave as the
//! replicas of a Deployment do, and a Redis that goes away leaves the limits per process
//! until it is back.

use std::sync::Arc;
use std::time::Duration;

use socialscalr_core::ids;
use socialscalr_core::ratelimit::{Bucket, Limiter, WINDOW};
use socialscalr_core::testing::{PrivateServices, REDIS_URL_VAR, service_url};

fn workspace() -> String {
    // Every test counts under its own key, so runs sharing one Redis do not interfere.
    ids::new_id(ids::WORKSPACE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_allow_exactly_the_limit_between_them() {
    let Some(url) = service_url(REDIS_URL_VAR) else {
        return;
    };
    let replicas = [
        Arc::new(Limiter::redis(&url).unwrap()),
        Arc::new(Limiter::redis(&url).unwrap()),
    ];
    let ws = workspace();

    // Concurrent calls from both, as requests to two pods arrive.
    let mut calls = Vec::new();
    for n in 0..40 {
        let limiter = Arc::clone(&replicas[n % 2]);
        let ws = ws.clone();
        calls.push(tokio::spawn(async move {
            limiter.check(Bucket::Api, &ws, 15, WINDOW).await
        }));
    }
    let mut decisions = Vec::new();
    for call in calls {
        decisions.push(call.await.unwrap());
    }

    let allowed: Vec<_> = decisions.iter().filter(|d| d.allowed).collect();
    assert_eq!(allowed.len(), 15, "{decisions:?}");
    let mut remaining: Vec<u32> = allowed.iter().map(|d| d.remaining).collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..15).collect::<Vec<_>>(),
        "each slot is counted once"
    );
    for refused in decisions.iter().filter(|d| !d.allowed) {
        assert_eq!(refused.remaining, 0);
        let retry_after = refused.retry_after.expect("a refusal says when to retry");
        assert!((1..=60).contains(&retry_after), "{refused:?}");
    }
    assert!(replicas.iter().all(|limiter| !limiter.is_degraded()));
}

#[tokio::test]
async fn replicas_agree_on_reset_and_the_window_slides() {
    let Some(url) = service_url(REDIS_URL_VAR) else {
        return;
    };
    let (a, b) = (Limiter::redis(&url).unwrap(), Limiter::redis(&url).unwrap());
    let ws = workspace();
    let window = Duration::from_secs(1);

    let first = a.check(Bucket::Outbound, &ws, 2, window).await;
    let second = b.check(Bucket::Outbound, &ws, 2, window).await;
    assert!(first.allowed && second.allowed);
    assert_eq!(second.remaining, 0);
    // Both count from the first hit, timed by the server's clock.
    assert_eq!(first.reset_at, second.reset_at);
    let refused = a.check(Bucket::Outbound, &ws, 2, window).await;
    assert!(!refused.allowed);
    assert!(refused.frees_in <= window, "{refused:?}");

    tokio::time::sleep(refused.frees_in + Duration::from_millis(20)).await;
    assert!(b.check(Bucket::Outbound, &ws, 2, window).await.allowed);
    assert!(
        a.check(Bucket::Api, &ws, 1, window).await.allowed,
        "buckets do not share a log"
    );
}

#[tokio::test]
async fn limits_fall_back_to_the_process_while_redis_is_away_and_return_to_it() {
    if service_url(REDIS_URL_VAR).is_none() {
        return;
    }
    let services = PrivateServices::start();
    let limiter = Limiter::redis(services.redis_url()).unwrap();
    let ws = workspace();
    assert!(limiter.check(Bucket::Api, &ws, 3, WINDOW).await.allowed);
    assert!(!limiter.is_degraded());

    services.kill_redis();
    // The first call finds Redis gone; from then on the process counts on its own, with
    // an exact log of its own.
    let decisions = [
        limiter.check(Bucket::Api, &ws, 3, WINDOW).await,
        limiter.check(Bucket::Api, &ws, 3, WINDOW).await,
        limiter.check(Bucket::Api, &ws, 3, WINDOW).await,
        limiter.check(Bucket::Api, &ws, 3, WINDOW).await,
    ];
    assert!(limiter.is_degraded());
    assert!(limiter.backend_errors() >= 1);
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    assert_eq!(allowed, 3, "{decisions:?}");
    assert_eq!(decisions[3].remaining, 0);
    assert!(decisions[3].retry_after.is_some());

    services.start_redis();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while limiter.is_degraded() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the limiter did not go back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restarted Redis is empty: counting starts again there.
    let shared = limiter.check(Bucket::Api, &ws, 3, WINDOW).await;
    assert!(shared.allowed);
    assert_eq!(shared.remaining, 2);
}
