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

/// Serde helpers for `Timestamp` fields written as RFC 3339 with a `Z`.
pub mod serde_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::rfc3339(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&chrono::Utc))
            .map_err(|_| serde::de::Error::custom("expected an RFC 3339 time"))
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
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|at| Some(at.with_timezone(&chrono::Utc)))
                .map_err(|_| serde::de::Error::custom("expected an RFC 3339 time"))
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
    fn rfc3339_is_utc_with_z() {
        let at = from_micros(1_779_636_731_000_000);
        assert_eq!(rfc3339(at), "2026-05-24T15:32:11Z");
        let at = from_micros(1_779_636_731_250_000);
        assert_eq!(rfc3339(at), "2026-05-24T15:32:11.250Z");
    }
}
