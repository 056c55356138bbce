//! What follows an attempt: done, retry at a time, give up, or disable a gone endpoint.

use std::time::Duration;

use reqwest::StatusCode;
use socialscalr_core::model::EndpointFormat;
use socialscalr_core::retry::{NextStep, RetrySchedule};
use socialscalr_core::store::AttemptResult;
use socialscalr_core::time::Timestamp;

use crate::attempt::Exchange;

/// How long to wait after a chat service's 429 that says nothing of how long.
pub const CHAT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);

pub fn decide(
    exchange: &Exchange,
    format: EndpointFormat,
    schedule: &RetrySchedule,
    attempt: u32,
    first_attempt_at: Timestamp,
    now: Timestamp,
    jitter: f64,
) -> AttemptResult {
    if exchange.succeeded() {
        return AttemptResult::Delivered;
    }
    if exchange.status == Some(StatusCode::GONE) {
        return AttemptResult::EndpointGone;
    }
    if format.is_chat()
        && exchange.status == Some(StatusCode::TOO_MANY_REQUESTS)
        && let Some(at) = rate_limited_until(exchange, schedule, first_attempt_at, now)
    {
        return AttemptResult::RateLimited(at);
    }
    match schedule.after_failure(attempt, first_attempt_at, now, jitter) {
        NextStep::GiveUp => AttemptResult::GaveUp,
        NextStep::RetryAt(scheduled) => {
            let Some(wait) = exchange
                .retry_after
                .and_then(|d| chrono::Duration::from_std(d).ok())
            else {
                return AttemptResult::RetryAt(scheduled);
            };
            // The receiver's wish is honoured inside the retry window, never past it.
            let wanted = now.checked_add_signed(wait).unwrap_or(scheduled);
            let latest = schedule.window_end(first_attempt_at).max(scheduled);
            AttemptResult::RetryAt(wanted.clamp(scheduled, latest))
        }
    }
}

/// When to try again after a chat service's 429, which is the service pacing its
/// callers and says nothing about the endpoint: the time it asks for, within the retry
/// window. Once the window is spent the 429 counts as a failure, so a service that never
/// stops refusing cannot keep a delivery pending for ever.
fn rate_limited_until(
    exchange: &Exchange,
    schedule: &RetrySchedule,
    first_attempt_at: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    let window_end = schedule.window_end(first_attempt_at);
    if now >= window_end {
        return None;
    }
    let wait = exchange.retry_after.unwrap_or(CHAT_RATE_LIMIT_WAIT);
    let wanted = chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(window_end);
    Some(wanted.min(window_end))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use socialscalr_core::time::from_micros;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        from_micros(seconds * 1_000_000)
    }

    fn exchange(status: Option<u16>, retry_after: Option<u64>) -> Exchange {
        Exchange {
            status: status.map(|s| StatusCode::from_u16(s).unwrap()),
            error: None,
            excerpt: None,
            duration: Duration::ZERO,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn any_2xx_is_delivered_and_410_disables() {
        let schedule = RetrySchedule::standard();
        for status in [200, 201, 204, 299] {
            let result = decide(
                &exchange(Some(status), None),
                EndpointFormat::Json,
                &schedule,
                1,
                at(0),
                at(0),
                0.0,
            );
            assert_eq!(result, AttemptResult::Delivered, "{status}");
        }
        let result = decide(
            &exchange(Some(410), None),
            EndpointFormat::Json,
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(result, AttemptResult::EndpointGone);
    }

    #[test]
    fn failures_retry_on_schedule_then_give_up() {
        let schedule = RetrySchedule::standard();
        for status in [None, Some(301), Some(400), Some(404), Some(500)] {
            let result = decide(
                &exchange(status, None),
                EndpointFormat::Json,
                &schedule,
                1,
                at(0),
                at(1),
                0.0,
            );
            assert_eq!(result, AttemptResult::RetryAt(at(60)), "{status:?}");
        }
        let result = decide(
            &exchange(Some(500), None),
            EndpointFormat::Json,
            &schedule,
            7,
            at(0),
            at(86_400),
            0.0,
        );
        assert_eq!(result, AttemptResult::GaveUp);
    }

    #[test]
    fn retry_after_is_honoured_within_the_window() {
        let schedule = RetrySchedule::standard();
        let later = decide(
            &exchange(Some(429), Some(600)),
            EndpointFormat::Json,
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(later, AttemptResult::RetryAt(at(600)));
        let sooner = decide(
            &exchange(Some(503), Some(5)),
            EndpointFormat::Json,
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(sooner, AttemptResult::RetryAt(at(60)));
        let capped = decide(
            &exchange(Some(503), Some(999_999)),
            EndpointFormat::Json,
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(capped, AttemptResult::RetryAt(at(86_400)));
    }

    #[test]
    fn a_chat_services_429_is_rescheduled_without_counting_as_a_failure() {
        let schedule = RetrySchedule::standard();
        for format in [EndpointFormat::Slack, EndpointFormat::Discord] {
            // Sooner than the schedule's next retry, and on a later attempt too.
            let soon = decide(
                &exchange(Some(429), Some(2)),
                format,
                &schedule,
                3,
                at(0),
                at(400),
                0.0,
            );
            assert_eq!(soon, AttemptResult::RateLimited(at(402)), "{format}");
            let unhinted = decide(
                &exchange(Some(429), None),
                format,
                &schedule,
                1,
                at(0),
                at(0),
                0.0,
            );
            assert_eq!(unhinted, AttemptResult::RateLimited(at(5)));
            let capped = decide(
                &exchange(Some(429), Some(999_999)),
                format,
                &schedule,
                1,
                at(0),
                at(10),
                0.0,
            );
            assert_eq!(capped, AttemptResult::RateLimited(at(86_400)));
        }
        // The envelope endpoint's 429 is an ordinary failure.
        let json = decide(
            &exchange(Some(429), Some(2)),
            EndpointFormat::Json,
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(json, AttemptResult::RetryAt(at(60)));
    }

    #[test]
    fn a_chat_429_after_the_window_counts_so_the_delivery_ends() {
        let schedule = RetrySchedule::standard();
        let last = decide(
            &exchange(Some(429), Some(1)),
            EndpointFormat::Slack,
            &schedule,
            7,
            at(0),
            at(86_400),
            0.0,
        );
        assert_eq!(last, AttemptResult::GaveUp);
        let other_failure = decide(
            &exchange(Some(500), Some(1)),
            EndpointFormat::Slack,
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(other_failure, AttemptResult::RetryAt(at(60)));
    }
}
