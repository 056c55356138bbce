//! Per-workspace limits over a rolling window: at most `limit` hits in any `window`, with
//! no boundary at which a client could spend two quotas. The API counts requests in a
//! 60-second window; the dispatcher counts delivery attempts against the outbound cap.
//!
//! [`Limiter`] keeps the log in this process, or in Redis so that every replica shares
//! it. While Redis is unreachable a Redis limiter counts in this process instead and says
//! so, and it goes back to Redis by itself when Redis answers again.

mod shared;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::time::{self, Timestamp};

pub use self::shared::RedisLimiter;

/// The window of the REST API's requests-per-minute limits.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What is counted; each has its own log per workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// REST API requests.
    Api,
    /// Webhook delivery attempts, against the outbound cap.
    Outbound,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Api => "api",
            Bucket::Outbound => "outbound",
        }
    }
}

/// The answer to one hit: let it through or not, and the figures for the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the window holds a free slot again (the full quota, when
    /// nothing was spent).
    pub reset_at: i64,
    /// Whole seconds to wait before a refused request can succeed.
    pub retry_after: Option<u64>,
    /// How long until the oldest counted hit leaves the window and frees a slot.
    pub frees_in: Duration,
}

impl Decision {
    /// The decision for a log holding `used` hits (this one included when allowed) whose
    /// oldest hit leaves the window at `frees_at_us`, as seen at `now_us`.
    fn new(limit: u32, used: u32, allowed: bool, now_us: i64, frees_at_us: i64) -> Decision {
        let frees_in_us = u64::try_from(frees_at_us.saturating_sub(now_us)).unwrap_or(0);
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(used),
            reset_at: frees_at_us.div_euclid(1_000_000) + 1,
            retry_after: (!allowed).then(|| frees_in_us.div_ceil(1_000_000).max(1)),
            frees_in: Duration::from_micros(frees_in_us),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("is not a redis:// URL")]
    NotRedisUrl,
    #[error("is not a valid Redis URL ({0:?})")]
    InvalidUrl(redis::ErrorKind),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis answered the limit script with {0} values")]
    Malformed(usize),
}

/// Where the limits are kept.
pub enum Limiter {
    /// In this process: exact for one process, per process for several.
    Local(LocalLimiter),
    /// In Redis, shared by every replica, with this process's own log while Redis is away.
    Redis(RedisLimiter),
}

impl Limiter {
    pub fn local() -> Limiter {
        Limiter::Local(LocalLimiter::new())
    }

    /// A limiter on the Redis server `url` names. It connects on first use, so a process
    /// starts while Redis is away; it needs a Tokio runtime.
    pub fn redis(url: &str) -> Result<Limiter, LimiterError> {
        RedisLimiter::new(url).map(Limiter::Redis)
    }

    /// Counts a hit of `key` in `bucket` against `limit` per `window`.
    pub async fn check(&self, bucket: Bucket, key: &str, limit: u32, window: Duration) -> Decision {
        match self {
            Limiter::Local(local) => {
                local.check(&local_key(bucket, key), limit, window, time::now())
            }
            Limiter::Redis(redis) => redis.check(bucket, key, limit, window).await,
        }
    }

    /// Whether limits that should be shared are kept per process for now, Redis being away.
    pub fn is_degraded(&self) -> bool {
        match self {
            Limiter::Local(_) => false,
            Limiter::Redis(redis) => !redis.is_reachable(),
        }
    }

    /// Calls to Redis that failed or timed out since the start.
    pub fn backend_errors(&self) -> u64 {
        match self {
            Limiter::Local(_) => 0,
            Limiter::Redis(redis) => redis.errors(),
        }
    }

    /// `local` or `redis`.
    pub fn backend(&self) -> &'static str {
        match self {
            Limiter::Local(_) => "local",
            Limiter::Redis(_) => "redis",
        }
    }

    /// Forgets emptied windows kept in this process.
    pub fn prune(&self) {
        let local = match self {
            Limiter::Local(local) => local,
            Limiter::Redis(redis) => redis.fallback(),
        };
        local.prune(time::now());
    }
}

fn local_key(bucket: Bucket, key: &str) -> String {
    format!("{}:{key}", bucket.as_str())
}

/// Rolling-window limits kept in this process.
#[derive(Default)]
pub struct LocalLimiter {
    windows: Mutex<HashMap<String, HitLog>>,
}

struct HitLog {
    window_us: i64,
    hits: VecDeque<i64>,
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a hit of `key` at `now` against `limit` per `window`.
    pub fn check(&self, key: &str, limit: u32, window: Duration, now: Timestamp) -> Decision {
        let now_us = now.timestamp_micros();
        let window_us = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let log = windows.entry(key.to_owned()).or_insert_with(|| HitLog {
            window_us,
            hits: VecDeque::new(),
        });
        log.window_us = window_us;
        let hits = &mut log.hits;
        while hits
            .front()
            .is_some_and(|&at| at <= now_us.saturating_sub(window_us))
        {
            hits.pop_front();
        }
        let used = u32::try_from(hits.len()).unwrap_or(u32::MAX);
        let allowed = used < limit;
        if allowed {
            hits.push_back(now_us);
        }
        // The oldest hit in the window is the next to leave it.
        let frees_at_us = hits
            .front()
            .map_or(now_us, |&oldest| oldest.saturating_add(window_us));
        Decision::new(
            limit,
            used + u32::from(allowed),
            allowed,
            now_us,
            frees_at_us,
        )
    }

    /// Forgets windows that have emptied, so idle workspaces cost no memory.
    pub fn prune(&self, now: Timestamp) {
        let now_us = now.timestamp_micros();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.retain(|_, log| {
            log.hits
                .back()
                .is_some_and(|&at| at > now_us.saturating_sub(log.window_us))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_micros;

    fn at(millis: i64) -> Timestamp {
        from_micros(1_800_000_000_000_000 + millis * 1_000)
    }

    #[test]
    fn the_limit_holds_in_every_rolling_window() {
        let limiter = LocalLimiter::new();
        for n in 0..3 {
            let decision = limiter.check("ws", 3, WINDOW, at(n * 10_000));
            assert!(decision.allowed);
            assert_eq!(decision.remaining, 2 - n as u32);
        }
        let refused = limiter.check("ws", 3, WINDOW, at(30_000));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // The first hit leaves the window 60 s after it was made, 30 s from now.
        assert_eq!(refused.retry_after, Some(30));
        assert_eq!(refused.frees_in, Duration::from_secs(30));
        // No fixed-window boundary to exploit: still refused just before the first
        // hit expires, allowed right after.
        assert!(!limiter.check("ws", 3, WINDOW, at(59_999)).allowed);
        assert!(limiter.check("ws", 3, WINDOW, at(60_001)).allowed);
        assert!(!limiter.check("ws", 3, WINDOW, at(60_002)).allowed);
    }

    #[test]
    fn workspaces_do_not_share_a_window() {
        let limiter = LocalLimiter::new();
        assert!(limiter.check("a", 1, WINDOW, at(0)).allowed);
        assert!(!limiter.check("a", 1, WINDOW, at(1)).allowed);
        assert!(limiter.check("b", 1, WINDOW, at(2)).allowed);
    }

    #[test]
    fn a_short_window_frees_its_slots_sooner() {
        let limiter = LocalLimiter::new();
        let window = Duration::from_secs(2);
        assert!(limiter.check("a", 2, window, at(0)).allowed);
        assert!(limiter.check("a", 2, window, at(500)).allowed);
        let refused = limiter.check("a", 2, window, at(1_000));
        assert!(!refused.allowed);
        assert_eq!(refused.frees_in, Duration::from_secs(1));
        assert_eq!(refused.retry_after, Some(1));
        assert!(limiter.check("a", 2, window, at(2_001)).allowed);
    }

    #[test]
    fn reset_is_when_a_slot_frees_and_idle_windows_are_pruned() {
        let limiter = LocalLimiter::new();
        let decision = limiter.check("a", 5, WINDOW, at(0));
        assert_eq!(decision.reset_at, at(60_000).timestamp() + 1);
        limiter.check("b", 5, Duration::from_secs(1), at(59_000));
        limiter.prune(at(61_000));
        assert!(limiter.windows.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_local_limiter_is_never_degraded() {
        let limiter = Limiter::local();
        let decision = limiter.check(Bucket::Api, "ws", 1, WINDOW).await;
        assert!(decision.allowed);
        assert!(!limiter.check(Bucket::Api, "ws", 1, WINDOW).await.allowed);
        assert!(
            limiter
                .check(Bucket::Outbound, "ws", 1, WINDOW)
                .await
                .allowed
        );
        assert!(!limiter.is_degraded());
        assert_eq!(limiter.backend(), "local");
    }

    #[test]
    fn a_url_that_is_not_redis_is_refused_without_echoing_it() {
        let Err(error) = Limiter::redis("postgres://user:hunter2@db/x") else {
            panic!("a postgres URL was taken for Redis");
        };
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
