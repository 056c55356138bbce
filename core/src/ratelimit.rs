//! Per-workspace request limits over a rolling window: at most `limit` requests in any
//! 60 seconds, with no boundary at which a client could spend two quotas. This is the
//! in-process limiter of a single process; replicas share the same algorithm in Redis.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::time::Timestamp;

pub const WINDOW: Duration = Duration::from_secs(60);

/// The answer to one request: let it through or not, and the figures for the headers.
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
}

/// Rolling-window limits kept in this process.
#[derive(Default)]
pub struct LocalLimiter {
    windows: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a request of `key` at `now` against `limit` per [`WINDOW`].
    pub fn check(&self, key: &str, limit: u32, now: Timestamp) -> Decision {
        let now_us = now.timestamp_micros();
        let window_us = WINDOW.as_micros() as i64;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let hits = windows.entry(key.to_owned()).or_default();
        while hits.front().is_some_and(|&at| at <= now_us - window_us) {
            hits.pop_front();
        }
        let used = u32::try_from(hits.len()).unwrap_or(u32::MAX);
        let allowed = used < limit;
        if allowed {
            hits.push_back(now_us);
        }
        let used = used + u32::from(allowed);
        // The oldest hit in the window is the next to leave it.
        let frees_at_us = hits.front().map_or(now_us, |&oldest| oldest + window_us);
        let retry_after = (!allowed).then(|| {
            let wait_us = (frees_at_us - now_us).max(0) as u64;
            wait_us.div_ceil(1_000_000).max(1)
        });
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(used),
            reset_at: frees_at_us.div_euclid(1_000_000) + 1,
            retry_after,
        }
    }

    /// Forgets windows that have emptied, so idle workspaces cost no memory.
    pub fn prune(&self, now: Timestamp) {
        let horizon = now.timestamp_micros() - WINDOW.as_micros() as i64;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.retain(|_, hits| hits.back().is_some_and(|&at| at > horizon));
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
            let decision = limiter.check("ws", 3, at(n * 10_000));
            assert!(decision.allowed);
            assert_eq!(decision.remaining, 2 - n as u32);
        }
        let refused = limiter.check("ws", 3, at(30_000));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // The first hit leaves the window 60 s after it was made, 30 s from now.
        assert_eq!(refused.retry_after, Some(30));
        // No fixed-window boundary to exploit: still refused just before the first
        // hit expires, allowed right after.
        assert!(!limiter.check("ws", 3, at(59_999)).allowed);
        assert!(limiter.check("ws", 3, at(60_001)).allowed);
        assert!(!limiter.check("ws", 3, at(60_002)).allowed);
    }

    #[test]
    fn workspaces_do_not_share_a_window() {
        let limiter = LocalLimiter::new();
        assert!(limiter.check("a", 1, at(0)).allowed);
        assert!(!limiter.check("a", 1, at(1)).allowed);
        assert!(limiter.check("b", 1, at(2)).allowed);
    }

    #[test]
    fn reset_is_when_a_slot_frees_and_idle_windows_are_pruned() {
        let limiter = LocalLimiter::new();
        let decision = limiter.check("a", 5, at(0));
        assert_eq!(decision.reset_at, at(60_000).timestamp() + 1);
        limiter.prune(at(61_000));
        assert!(limiter.windows.lock().unwrap().is_empty());
    }
}
