//! The state of the rate limiter, read at each scrape.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntGaugeVec, Opts};
use socialscalr_core::ratelimit::Limiter;

use crate::{Metrics, register};

/// Reports whether limits meant to be shared are counted per process for now (Redis
/// away), and how many Redis calls failed.
struct LimiterCollector {
    limiter: Arc<Limiter>,
    degraded: IntGaugeVec,
    errors: IntCounter,
    descs: Vec<Desc>,
}

impl Collector for LimiterCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.degraded
            .with_label_values(&[self.limiter.backend()])
            .set(i64::from(self.limiter.is_degraded()));
        // The limiter keeps the running total; the counter follows it upwards.
        let total = self.limiter.backend_errors();
        let counted = self.errors.get();
        if total > counted {
            self.errors.inc_by(total - counted);
        }
        let mut families = self.degraded.collect();
        families.extend(self.errors.collect());
        families
    }
}

/// Exposes the limiter's state in `metrics`. Called once per process and limiter.
pub fn register_limiter(metrics: &Metrics, limiter: Arc<Limiter>) {
    let degraded = IntGaugeVec::new(
        Opts::new(
            "socialscalr_ratelimit_degraded",
            "1 while Redis is unreachable and rate limits and outbound caps are counted \
             per process; 0 otherwise. The backend label is redis or local.",
        ),
        &["backend"],
    )
    .expect("a valid metric");
    let errors = IntCounter::new(
        "socialscalr_ratelimit_backend_errors_total",
        "Calls to Redis for a limit that failed or timed out.",
    )
    .expect("a valid metric");
    let descs = degraded
        .desc()
        .into_iter()
        .chain(errors.desc())
        .cloned()
        .collect();
    let collector = LimiterCollector {
        limiter,
        degraded,
        errors,
        descs,
    };
    register(metrics.registry(), collector);
}
