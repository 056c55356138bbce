//! Whole-number durations with a unit (`90m`, `24h`, `7d`), as `?since=` and the retry
//! schedule write them. Parsing is exact: no fractions, no signs, no overflow.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("is empty")]
    Empty,
    #[error("must be a whole number followed by one of the units s, m, h, d, w (e.g. 24h)")]
    Malformed,
    #[error("is too large")]
    Overflow,
}

/// Parses `<digits><unit>` with unit `s`, `m`, `h`, `d` or `w`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let unit_at = text.len() - text.chars().last().map_or(0, char::len_utf8);
    let (digits, unit) = text.split_at(unit_at);
    let seconds_per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(DurationError::Malformed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::Malformed);
    }
    let count: u64 = digits.parse().map_err(|_| DurationError::Overflow)?;
    let seconds = count
        .checked_mul(seconds_per_unit)
        .ok_or(DurationError::Overflow)?;
    // Beyond this no calendar time can be subtracted from now; refuse it as too large.
    const HUNDRED_YEARS: u64 = 100 * 366 * 86_400;
    if seconds > HUNDRED_YEARS {
        return Err(DurationError::Overflow);
    }
    Ok(Duration::from_secs(seconds))
}

/// Writes a duration back in the largest unit that divides it.
pub fn format(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds != 0 && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_is_exact_seconds() {
        assert_eq!(parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "24", "h", "1.5h", "-1h", "+1h", " 1h", "1 h", "1H", "1y", "1hh", "1é", "٣h",
        ] {
            assert_eq!(parse(text), Err(DurationError::Malformed), "{text:?}");
        }
        assert_eq!(parse(""), Err(DurationError::Empty));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(
            parse("99999999999999999999999s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(parse("18446744073709551615w"), Err(DurationError::Overflow));
        assert_eq!(parse("5300w"), Err(DurationError::Overflow));
    }

    #[test]
    fn format_uses_the_largest_whole_unit() {
        assert_eq!(format(Duration::from_secs(60)), "1m");
        assert_eq!(format(Duration::from_secs(7_200)), "2h");
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
