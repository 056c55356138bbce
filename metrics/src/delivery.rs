//! Metrics of webhook delivery: attempts, finished deliveries, latency from event to 2xx,
//! the queue, and the outbound cap.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, core::Collector,
};
use socialscalr_core::event::EventType;
use socialscalr_core::model::AttemptOutcome;
use socialscalr_core::store::QueueSummary;
use socialscalr_core::time::Timestamp;

use crate::{Metrics, WorkspaceLabels};

/// Event to 2xx spans the retry schedule, so the buckets reach beyond a day.
const DELIVERY_LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1_800.0, 7_200.0, 21_600.0,
    86_400.0, 172_800.0,
];
/// One attempt is cut off at 8 seconds.
const ATTEMPT_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

#[derive(Clone)]
pub struct DeliveryMetrics {
    attempts: IntCounterVec,
    deliveries: IntCounterVec,
    workspace_deliveries: IntCounterVec,
    latency: HistogramVec,
    attempt_duration: Histogram,
    in_flight: IntGauge,
    throttled: IntCounterVec,
    throttled_workspaces: IntGauge,
    queue_pending: IntGauge,
    queue_due: IntGauge,
    oldest_pending_age: prometheus::Gauge,
    oldest_due_wait: prometheus::Gauge,
    workspaces: Arc<WorkspaceLabels>,
}

impl DeliveryMetrics {
    pub fn register(metrics: &Metrics) -> DeliveryMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
        };
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("a valid metric");
        let seconds =
            |name: &str, help: &str| prometheus::Gauge::new(name, help).expect("a valid metric");
        let delivery = DeliveryMetrics {
            attempts: counter(
                "socialscalr_webhook_attempts_total",
                "Delivery attempts made, by event type and what followed (delivered, \
                 retry_scheduled, rate_limited, failed, endpoint_gone).",
                &["event_type", "result"],
            ),
            deliveries: counter(
                "socialscalr_webhook_deliveries_total",
                "Deliveries finished, by event type and outcome (delivered, failed, \
                 endpoint_gone).",
                &["event_type", "outcome"],
            ),
            workspace_deliveries: counter(
                "socialscalr_webhook_workspace_deliveries_total",
                "Deliveries finished, by workspace and outcome.",
                &["workspace", "outcome"],
            ),
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "socialscalr_webhook_delivery_latency_seconds",
                    "Time from an event's creation to the 2xx that delivered it, retries \
                     included, by event type.",
                )
                .buckets(DELIVERY_LATENCY_BUCKETS.to_vec()),
                &["event_type"],
            )
            .expect("a valid metric"),
            attempt_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "socialscalr_webhook_attempt_duration_seconds",
                    "Duration of one attempt's HTTP exchange, connect to last byte.",
                )
                .buckets(ATTEMPT_BUCKETS.to_vec()),
            )
            .expect("a valid metric"),
            in_flight: gauge(
                "socialscalr_webhook_in_flight",
                "Delivery attempts this process is making right now.",
            ),
            throttled: counter(
                "socialscalr_webhook_throttled_total",
                "Deliveries held back in the queue because their workspace reached its \
                 outbound cap; each is attempted later.",
                &["workspace"],
            ),
            throttled_workspaces: gauge(
                "socialscalr_webhook_throttled_workspaces",
                "Workspaces this process holds back for now, at their outbound cap.",
            ),
            queue_pending: gauge(
                "socialscalr_webhook_queue_pending",
                "Deliveries not finished yet, due or waiting for a retry (whole queue).",
            ),
            queue_due: gauge(
                "socialscalr_webhook_queue_due",
                "Pending deliveries whose attempt is due now (whole queue).",
            ),
            oldest_pending_age: seconds(
                "socialscalr_webhook_queue_oldest_pending_age_seconds",
                "Age of the oldest delivery not finished yet; 0 for an empty queue.",
            ),
            oldest_due_wait: seconds(
                "socialscalr_webhook_queue_oldest_due_wait_seconds",
                "How long the longest-waiting due delivery has been due; 0 when none is.",
            ),
            workspaces: Arc::clone(metrics.workspaces()),
        };
        let registry = metrics.registry();
        let collectors: [Box<dyn Collector>; 12] = [
            Box::new(delivery.attempts.clone()),
            Box::new(delivery.deliveries.clone()),
            Box::new(delivery.workspace_deliveries.clone()),
            Box::new(delivery.latency.clone()),
            Box::new(delivery.attempt_duration.clone()),
            Box::new(delivery.in_flight.clone()),
            Box::new(delivery.throttled.clone()),
            Box::new(delivery.throttled_workspaces.clone()),
            Box::new(delivery.queue_pending.clone()),
            Box::new(delivery.queue_due.clone()),
            Box::new(delivery.oldest_pending_age.clone()),
            Box::new(delivery.oldest_due_wait.clone()),
        ];
        for collector in collectors {
            registry
                .register(collector)
                .expect("each metric is registered once per registry");
        }
        delivery
    }

    /// One attempt and what followed it; a final outcome also finishes the delivery.
    pub fn attempt(
        &self,
        workspace_id: &str,
        event_type: EventType,
        outcome: AttemptOutcome,
        duration: Duration,
    ) {
        let event_type = event_type.as_str();
        let outcome = outcome_label(outcome);
        self.attempts
            .with_label_values(&[event_type, outcome])
            .inc();
        self.attempt_duration.observe(duration.as_secs_f64());
        let finished = matches!(outcome, "delivered" | "failed" | "endpoint_gone");
        if finished {
            self.deliveries
                .with_label_values(&[event_type, outcome])
                .inc();
            let workspace = self.workspaces.label(workspace_id);
            self.workspace_deliveries
                .with_label_values(&[&workspace, outcome])
                .inc();
        }
    }

    /// The time from an event's creation to the 2xx that delivered it.
    pub fn delivered_after(&self, event_type: EventType, latency: Duration) {
        self.latency
            .with_label_values(&[event_type.as_str()])
            .observe(latency.as_secs_f64());
    }

    pub fn in_flight(&self) -> &IntGauge {
        &self.in_flight
    }

    /// A delivery held back by its workspace's outbound cap.
    pub fn throttled(&self, workspace_id: &str) {
        let workspace = self.workspaces.label(workspace_id);
        self.throttled.with_label_values(&[&workspace]).inc();
    }

    pub fn set_throttled_workspaces(&self, count: usize) {
        self.throttled_workspaces
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The queue as sampled at `now`.
    pub fn queue(&self, summary: &QueueSummary, now: Timestamp) {
        let age = |at: Option<Timestamp>| {
            at.map_or(0.0, |at| {
                (now - at).to_std().unwrap_or_default().as_secs_f64()
            })
        };
        self.queue_pending
            .set(i64::try_from(summary.pending).unwrap_or(i64::MAX));
        self.queue_due
            .set(i64::try_from(summary.due).unwrap_or(i64::MAX));
        self.oldest_pending_age
            .set(age(summary.oldest_pending_created_at));
        self.oldest_due_wait.set(age(summary.oldest_due_at));
    }
}

fn outcome_label(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryScheduled => "retry_scheduled",
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::EndpointGone => "endpoint_gone",
        AttemptOutcome::RateLimited => "rate_limited",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_attempt_finishes_the_delivery_and_a_retry_does_not() {
        let metrics = Metrics::new("dispatcher", 10);
        let delivery = DeliveryMetrics::register(&metrics);
        let second = Duration::from_secs(1);
        delivery.attempt(
            "ws_1",
            EventType::LeadReplied,
            AttemptOutcome::RetryScheduled,
            second,
        );
        delivery.attempt(
            "ws_1",
            EventType::LeadReplied,
            AttemptOutcome::Delivered,
            second,
        );
        let text = metrics.encode();
        let replied = r#"event_type="lead.replied""#;
        for (family, labels) in [
            (
                "attempts_total",
                format!(r#"{replied},result="retry_scheduled""#),
            ),
            ("attempts_total", format!(r#"{replied},result="delivered""#)),
            (
                "deliveries_total",
                format!(r#"{replied},outcome="delivered""#),
            ),
            (
                "workspace_deliveries_total",
                r#"outcome="delivered",workspace="ws_1""#.into(),
            ),
        ] {
            let line = format!("socialscalr_webhook_{family}{{{labels}}} 1");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert!(!text.contains(r#"outcome="retry_scheduled""#), "{text}");
    }

    #[test]
    fn queue_ages_are_measured_from_the_sample_time() {
        let metrics = Metrics::new("dispatcher", 10);
        let delivery = DeliveryMetrics::register(&metrics);
        let now = socialscalr_core::time::now();
        let summary = QueueSummary {
            pending: 3,
            due: 1,
            oldest_pending_created_at: Some(now - chrono::Duration::seconds(90)),
            oldest_due_at: None,
        };
        delivery.queue(&summary, now);
        let text = metrics.encode();
        assert!(
            text.contains("socialscalr_webhook_queue_pending 3"),
            "{text}"
        );
        assert!(text.contains("socialscalr_webhook_queue_oldest_pending_age_seconds 90"));
        assert!(text.contains("socialscalr_webhook_queue_oldest_due_wait_seconds 0"));
    }
}
