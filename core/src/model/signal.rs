use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, check_http_url, check_optional_text, check_text};
use crate::time::{Timestamp, serde_rfc3339};

/// What Watchtower noticed. The set is closed so that integrators can switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalType {
    /// A tracked person started a new role or moved to another company.
    JobChange,
    /// A tracked company announced a funding round.
    Funding,
    /// A tracked company opened positions that match the workspace's targeting.
    Hiring,
    /// A post mentioned the workspace's brand, product or tracked keywords.
    PostMention,
    /// A tracked person viewed the profile of one of the workspace's senders.
    ProfileView,
}

impl SignalType {
    pub const ALL: [SignalType; 5] = [
        SignalType::JobChange,
        SignalType::Funding,
        SignalType::Hiring,
        SignalType::PostMention,
        SignalType::ProfileView,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalType::JobChange => "job_change",
            SignalType::Funding => "funding",
            SignalType::Hiring => "hiring",
            SignalType::PostMention => "post_mention",
            SignalType::ProfileView => "profile_view",
        }
    }

    /// The names, comma separated, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = SignalType::ALL.iter().map(|t| t.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for SignalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown signal type `{0}`")]
pub struct UnknownSignalType(pub String);

impl FromStr for SignalType {
    type Err = UnknownSignalType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SignalType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownSignalType(text.to_owned()))
    }
}

/// Something Watchtower noticed about a lead or a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Signal {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: SignalType,
    pub lead_id: Option<String>,
    pub company: Option<String>,
    pub title: String,
    pub detail: Option<String>,
    pub url: Option<String>,
    /// When it happened, as reported.
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    /// When Watchtower recorded it; lists are ordered by this.
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

pub const MAX_SIGNAL_TITLE_CHARS: usize = 300;
pub const MAX_SIGNAL_DETAIL_CHARS: usize = 4_000;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSignal {
    #[serde(rename = "type")]
    pub kind: SignalType,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Defaults to when the signal is reported.
    #[serde(default, with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Timestamp>,
}

impl NewSignal {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(lead_id) = &self.lead_id {
            check_text("lead_id", lead_id, 64, false)?;
        }
        check_optional_text("company", self.company.as_deref(), 200)?;
        check_text("title", &self.title, MAX_SIGNAL_TITLE_CHARS, false)?;
        check_optional_text("detail", self.detail.as_deref(), MAX_SIGNAL_DETAIL_CHARS)?;
        if let Some(url) = &self.url {
            // Integrators open these links from their tools; plain http is refused.
            if check_http_url("url", url)?.scheme() != "https" {
                return Err(FieldError::new("url", "must be an https URL"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused_field(value: serde_json::Value) -> String {
        serde_json::from_value::<NewSignal>(value)
            .unwrap()
            .validate()
            .unwrap_err()
            .field
    }

    #[test]
    fn signal_types_round_trip_through_their_names() {
        for kind in SignalType::ALL {
            assert_eq!(kind.as_str().parse::<SignalType>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert!("JobChange".parse::<SignalType>().is_err());
    }

    #[test]
    fn a_titled_signal_with_an_https_link_is_valid() {
        let signal: NewSignal = serde_json::from_value(json!({
            "type": "funding",
            "company": "Northwind",
            "title": "Northwind raised a Series B",
            "url": "https://example.com/news/northwind"
        }))
        .unwrap();
        assert_eq!(signal.validate(), Ok(()));
    }

    #[test]
    fn signal_fields_are_checked_by_name() {
        let base = |extra: serde_json::Value| {
            let mut value = json!({"type": "hiring", "title": "Hiring SDRs"});
            value
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            value
        };
        assert_eq!(refused_field(base(json!({"title": " "}))), "title");
        let long_title = "x".repeat(MAX_SIGNAL_TITLE_CHARS + 1);
        assert_eq!(refused_field(base(json!({"title": long_title}))), "title");
        let longest = "é".repeat(MAX_SIGNAL_TITLE_CHARS);
        let fine: NewSignal = serde_json::from_value(base(json!({"title": longest}))).unwrap();
        assert_eq!(fine.validate(), Ok(()));
        let http = json!({"url": "http://example.com/a"});
        assert_eq!(refused_field(base(http)), "url");
        assert_eq!(refused_field(base(json!({"url": "not a url"}))), "url");
        assert_eq!(refused_field(base(json!({"company": ""}))), "company");
        assert_eq!(refused_field(base(json!({"lead_id": ""}))), "lead_id");
        let long_detail = "d".repeat(MAX_SIGNAL_DETAIL_CHARS + 1);
        assert_eq!(
            refused_field(base(json!({"detail": long_detail}))),
            "detail"
        );
    }
}
