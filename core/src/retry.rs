//! When a failed delivery is tried again: offsets from its first attempt, spread with a
//! little jitter so that the backlog of an outage does not return all at once.

use std::fmt;
use std::time::Duration;

use crate::duration::{self, DurationError};
use crate::time::Timestamp;

/// Offsets from the first attempt at which each retry is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    offsets: Vec<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("entry {index} `{text}` {source}")]
    Entry {
        index: usize,
        text: String,
        source: DurationError,
    },
    #[error("entry {index} is not later than the one before it")]
    NotIncreasing { index: usize },
    #[error("has no entries")]
    Empty,
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    RetryAt(Timestamp),
    GiveUp,
}

impl RetrySchedule {
    /// The product schedule: +1m, +5m, +30m, +2h, +6h and +24h after the first attempt.
    pub fn standard() -> Self {
        let minutes = [1, 5, 30, 120, 360, 1_440];
        Self {
            offsets: minutes
                .into_iter()
                .map(|m| Duration::from_secs(m * 60))
                .collect(),
        }
    }

    pub fn new(offsets: Vec<Duration>) -> Result<Self, ScheduleError> {
        if offsets.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if let Some(index) = offsets.windows(2).position(|pair| pair[1] <= pair[0]) {
            return Err(ScheduleError::NotIncreasing { index: index + 2 });
        }
        Ok(Self { offsets })
    }

    /// Parses a comma-separated list such as `1s,2s,5s`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let offsets = text
            .split(',')
            .enumerate()
            .map(|(index, entry)| {
                let entry = entry.trim();
                duration::parse(entry).map_err(|source| ScheduleError::Entry {
                    index: index + 1,
                    text: entry.to_owned(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(offsets)
    }

    pub fn offsets(&self) -> &[Duration] {
        &self.offsets
    }

    /// Attempts a delivery gets in all: the first and one per offset.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.offsets.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The step after attempt number `attempt` (1 for the first) failed at `now`.
    ///
    /// `jitter` in `[0, 1)` delays the retry by up to a tenth of the gap since the previous
    /// scheduled time, at most five minutes. A retry is never due sooner than half that
    /// gap after the attempt that failed: when dispatch was stopped past several due
    /// times, the overdue retries are spread out again instead of all firing at once.
    pub fn after_failure(
        &self,
        attempt: u32,
        first_attempt_at: Timestamp,
        now: Timestamp,
        jitter: f64,
    ) -> NextStep {
        let Some(index) = usize::try_from(attempt).ok().and_then(|a| a.checked_sub(1)) else {
            return NextStep::RetryAt(now);
        };
        let Some(&offset) = self.offsets.get(index) else {
            return NextStep::GiveUp;
        };
        let previous = index
            .checked_sub(1)
            .map_or(Duration::ZERO, |i| self.offsets[i]);
        let gap = offset - previous;
        let spread = (gap / 10)
            .min(Duration::from_secs(300))
            .mul_f64(jitter.clamp(0.0, 0.999_999));
        let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();
        let on_schedule = first_attempt_at + span(offset + spread);
        let spaced_out = now + span(gap / 2 + spread);
        NextStep::RetryAt(on_schedule.max(spaced_out))
    }

    /// The latest time any retry of a delivery first attempted at `first_attempt_at` may be
    /// scheduled, so that a receiver's `Retry-After` is honoured only within the window.
    pub fn window_end(&self, first_attempt_at: Timestamp) -> Timestamp {
        let last = self.offsets.last().copied().unwrap_or_default();
        first_attempt_at + chrono::Duration::from_std(last).unwrap_or_default()
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.offsets.iter().map(|d| duration::format(*d)).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_micros;

    fn at(seconds: i64) -> Timestamp {
        from_micros(seconds * 1_000_000)
    }

    #[test]
    fn standard_schedule_is_the_products() {
        assert_eq!(RetrySchedule::standard().to_string(), "1m,5m,30m,2h,6h,1d");
        assert_eq!(RetrySchedule::standard().max_attempts(), 7);
    }

    #[test]
    fn retries_are_measured_from_the_first_attempt() {
        let schedule = RetrySchedule::standard();
        let first = at(1_000_000);
        let expected = [60, 300, 1_800, 7_200, 21_600, 86_400];
        for (attempt, offset) in (1..).zip(expected) {
            assert_eq!(
                schedule.after_failure(attempt, first, first, 0.0),
                NextStep::RetryAt(at(1_000_000 + offset)),
                "after attempt {attempt}"
            );
        }
        assert_eq!(
            schedule.after_failure(7, first, first, 0.0),
            NextStep::GiveUp
        );
    }

    #[test]
    fn jitter_spreads_within_a_tenth_of_the_gap_capped_at_five_minutes() {
        let schedule = RetrySchedule::standard();
        let first = at(0);
        // Gap before the first retry is one minute: at most six seconds later.
        let NextStep::RetryAt(late) = schedule.after_failure(1, first, first, 0.999) else {
            panic!("expected a retry");
        };
        assert!(late > at(65) && late < at(66), "{late}");
        // Gap before the last retry is 18 hours: capped at five minutes.
        let NextStep::RetryAt(late) = schedule.after_failure(6, first, first, 0.999) else {
            panic!("expected a retry");
        };
        assert!(late > at(86_400 + 299) && late < at(86_400 + 300), "{late}");
    }

    #[test]
    fn overdue_retries_are_spaced_out_instead_of_firing_together() {
        let schedule = RetrySchedule::standard();
        // Dispatch came back three hours after the first attempt: attempts 2 to 5 were
        // all due. Each retry now waits at least half its gap after the last failure.
        let mut now = at(10_800);
        let mut due = Vec::new();
        for attempt in 1..=4 {
            let NextStep::RetryAt(next) = schedule.after_failure(attempt, at(0), now, 0.0) else {
                panic!("expected a retry");
            };
            due.push(next.timestamp() - now.timestamp());
            now = next;
        }
        assert_eq!(due, vec![30, 120, 750, 2_700]);
    }

    #[test]
    fn schedules_parse_and_refuse_bad_entries() {
        let schedule = RetrySchedule::parse("1s, 2s,5s").unwrap();
        assert_eq!(schedule.max_attempts(), 4);
        assert!(matches!(
            RetrySchedule::parse("1s,x"),
            Err(ScheduleError::Entry { index: 2, .. })
        ));
        assert_eq!(
            RetrySchedule::parse("5s,2s"),
            Err(ScheduleError::NotIncreasing { index: 2 })
        );
        assert!(RetrySchedule::parse("").is_err());
    }
}
