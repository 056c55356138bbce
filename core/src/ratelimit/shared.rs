//! Limits shared by every replica through Redis. One Lua script counts a hit atomically in
//! a sorted set per workspace and bucket, timed by the Redis server's own clock, so that
//! replicas whose clocks disagree still agree on every decision.
//!
//! A call that fails or outlasts its timeout switches the limiter to its per-process log
//! and starts a probe; requests never wait on a Redis that is known to be away. The probe
//! switches back once Redis answers. Each switch is logged once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Bucket, Decision, LimiterError, LocalLimiter, local_key};
use crate::time;

/// The longest a request waits for Redis before it is decided in this process.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How often an unreachable Redis is tried again.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const KEY_PREFIX: &str = "socialscalr:ratelimit";

/// KEYS[1]: the log. ARGV: limit, window in microseconds, a member unique to this hit.
/// Returns allowed (0/1), hits in the window after this one, the server's time and when
/// the oldest hit leaves the window, both in microseconds.
const SCRIPT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local allowed = 0
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  used = used + 1
  allowed = 1
end
local frees_at = now
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  frees_at = tonumber(oldest[2]) + window
end
redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1000)
return {allowed, used, now, frees_at}
";

/// Limits kept in Redis, with a per-process fallback.
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    script: redis::Script,
    fallback: LocalLimiter,
    reachable: AtomicBool,
    errors: AtomicU64,
    /// Makes each hit's member unique across replicas, even within one microsecond.
    process_tag: String,
    sequence: AtomicU64,
}

impl RedisLimiter {
    pub fn new(url: &str) -> Result<RedisLimiter, LimiterError> {
        if !url.starts_with("redis://") {
            return Err(LimiterError::NotRedisUrl);
        }
        // The URL may hold a password: errors name its kind, never the URL.
        let client = redis::Client::open(url).map_err(|e| LimiterError::InvalidUrl(e.kind()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        let inner = Inner {
            connection,
            script: redis::Script::new(SCRIPT),
            fallback: LocalLimiter::new(),
            reachable: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            process_tag: crate::ids::new_id("rl"),
            sequence: AtomicU64::new(0),
        };
        Ok(RedisLimiter {
            inner: Arc::new(inner),
        })
    }

    pub async fn check(&self, bucket: Bucket, key: &str, limit: u32, window: Duration) -> Decision {
        if self.is_reachable() {
            match self.shared_check(bucket, key, limit, window).await {
                Ok(decision) => return decision,
                Err(error) => self.lost(&error),
            }
        }
        let key = local_key(bucket, key);
        self.inner.fallback.check(&key, limit, window, time::now())
    }

    pub fn is_reachable(&self) -> bool {
        self.inner.reachable.load(Ordering::Acquire)
    }

    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    pub(super) fn fallback(&self) -> &LocalLimiter {
        &self.inner.fallback
    }

    async fn shared_check(
        &self,
        bucket: Bucket,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Decision, LimiterError> {
        let inner = &self.inner;
        let sequence = inner.sequence.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{sequence}", inner.process_tag);
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        let mut invocation = inner
            .script
            .key(format!("{KEY_PREFIX}:{}:{key}", bucket.as_str()));
        invocation.arg(limit).arg(window_us).arg(member);
        let mut connection = inner.connection.clone();
        let call = invocation.invoke_async::<Vec<i64>>(&mut connection);
        let answer = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| LimiterError::Timeout(CALL_TIMEOUT))??;
        let [allowed, used, now_us, frees_at_us] = answer[..] else {
            return Err(LimiterError::Malformed(answer.len()));
        };
        let used = u32::try_from(used).unwrap_or(u32::MAX);
        Ok(Decision::new(
            limit,
            used,
            allowed == 1,
            now_us,
            frees_at_us,
        ))
    }

    /// Switches to the per-process log, once per outage, and starts the probe.
    fn lost(&self, error: &LimiterError) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
        if self.inner.reachable.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                %error,
                "Redis unreachable; rate limits are counted per process until it answers"
            );
            tokio::spawn(probe(Arc::downgrade(&self.inner)));
        }
    }
}

/// Pings Redis until it answers, then shares the limits again. Ends with the limiter.
async fn probe(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let mut connection = inner.connection.clone();
        let ping = redis::cmd("PING");
        let answer = ping.query_async::<String>(&mut connection);
        match tokio::time::timeout(CALL_TIMEOUT, answer).await {
            Ok(Ok(_)) => {
                inner.reachable.store(true, Ordering::Release);
                tracing::info!("Redis reachable again; rate limits are shared again");
                return;
            }
            Ok(Err(_)) | Err(_) => {
                inner.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
