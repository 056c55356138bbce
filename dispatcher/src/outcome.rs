//! What follows an attempt: done, retry at a time, give up, or disable a gone endpoint.

use reqwest::StatusCode;
use socialscalr_core::retry::{NextStep, RetrySchedule};
use socialscalr_core::store::AttemptResult;
use socialscalr_core::time::Timestamp;

use crate::attempt::Exchange;

pub fn decide(
    exchange: &Exchange,
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
                &schedule,
                1,
                at(0),
                at(0),
                0.0,
            );
            assert_eq!(result, AttemptResult::Delivered, "{status}");
        }
        let result = decide(&exchange(Some(410), None), &schedule, 1, at(0), at(0), 0.0);
        assert_eq!(result, AttemptResult::EndpointGone);
    }

    #[test]
    fn failures_retry_on_schedule_then_give_up() {
        let schedule = RetrySchedule::standard();
        for status in [None, Some(301), Some(400), Some(404), Some(500)] {
            let result = decide(&exchange(status, None), &schedule, 1, at(0), at(1), 0.0);
            assert_eq!(result, AttemptResult::RetryAt(at(60)), "{status:?}");
        }
        let result = decide(
            &exchange(Some(500), None),
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
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(later, AttemptResult::RetryAt(at(600)));
        let sooner = decide(
            &exchange(Some(503), Some(5)),
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(sooner, AttemptResult::RetryAt(at(60)));
        let capped = decide(
            &exchange(Some(503), Some(999_999)),
            &schedule,
            1,
            at(0),
            at(0),
            0.0,
        );
        assert_eq!(capped, AttemptResult::RetryAt(at(86_400)));
    }
}
