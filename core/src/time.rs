//! Time as the store keeps it: whole microseconds since the Unix epoch, the same integer
//! in every backend, so that comparisons and cursors never lose precision.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    // Truncated to what the store keeps, so a value read back equals the value written.
    from_micros(Utc::now().timestamp_micros())
}

pub fn to_micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

pub fn from_micros(micros: i64) -> Timestamp {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 in UTC with a `Z`, as every timestamp on the wire is written.
pub fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 time whose UTC year lies in 1900 to 9999, so that it can be written
/// back as RFC 3339.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    use chrono::Datelike;
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (1900..=9999)
        .contains(&at.year())
        .then(|| from_micros(at.timestamp_micros()))
}

/// Serde helpers for `Timestamp` fields written as RFC 3339 with a `Z`.
pub mod serde_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::rfc3339(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 time in years 1900-9999"))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use crate::time::Timestamp;

        pub fn serialize<S: Serializer>(
            at: &Option<Timestamp>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => serializer.serialize_str(&crate::time::rfc3339(*at)),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Timestamp>, D::Error> {
            let Some(text) = Option::<String>::deserialize(deserializer)? else {
                return Ok(None);
            };
            crate::time::parse_rfc3339(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom("expected an RFC 3339 time in years 1900-9999")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_at_full_precision() {
        let at = now();
        assert_eq!(from_micros(to_micros(at)), at);
    }

    #[test]
    fn times_outside_four_digit_years_are_refused() {
        assert!(parse_rfc3339("0000-01-01T00:00:00+23:59").is_none());
        assert!(parse_rfc3339("9999-12-31T23:59:59-23:59").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
        let at = parse_rfc3339("2026-05-24T17:32:11+02:00").unwrap();
        assert_eq!(rfc3339(at), "2026-05-24T15:32:11Z");
    }

    #[test]
    fn rfc3339_is_utc_with_z() {
        let at = from_micros(1_779_636_731_000_000);
        assert_eq!(rfc3339(at), "2026-05-24T15:32:11Z");
        let at = from_micros(1_779_636_731_250_000);
        assert_eq!(rfc3339(at), "2026-05-24T15:32:11.250Z");
    }
}
