use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, check_http_url, check_optional_text, check_text};
use crate::time::{Timestamp, serde_rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Active,
    Completed,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Active => "active",
            CampaignStatus::Completed => "completed",
        }
    }
}

/// Where a campaign's leads come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetingSource {
    LinkedinSearch,
    SalesNavigator,
    PostEngagement,
    CsvImport,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    pub source: TargetingSource,
    /// The search, list or post the leads are taken from; required for the URL sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    VisitProfile,
    Invite,
    Message,
    FollowUp,
    LikePost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SequenceStep {
    #[serde(rename = "type")]
    pub kind: StepType,
    /// Days to wait after the previous step.
    #[serde(default)]
    pub delay_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub status: CampaignStatus,
    pub targeting: Targeting,
    pub steps: Vec<SequenceStep>,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    pub target_leads: Option<u32>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
}

/// Why a campaign completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompletionReason {
    /// Its `ends_at` passed.
    EndDate,
    /// Its leads reached `target_leads`.
    TargetReached,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub name: String,
    pub targeting: Targeting,
    pub steps: Vec<SequenceStep>,
    #[serde(default, with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    #[serde(default)]
    pub target_leads: Option<u32>,
}

/// LinkedIn caps an invitation note at 300 characters and a message at 8,000.
const INVITE_NOTE_MAX: usize = 300;
const MESSAGE_MAX: usize = 8_000;
const MAX_STEPS: usize = 25;

impl NewCampaign {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("name", &self.name, 200, false)?;
        match (self.targeting.source, &self.targeting.url) {
            (
                TargetingSource::LinkedinSearch
                | TargetingSource::SalesNavigator
                | TargetingSource::PostEngagement,
                None,
            ) => {
                return Err(FieldError::new(
                    "targeting.url",
                    "is required for this source",
                ));
            }
            (_, Some(url)) => {
                check_http_url("targeting.url", url)?;
            }
            _ => {}
        }
        if self.steps.is_empty() {
            return Err(FieldError::new("steps", "must have at least one step"));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(FieldError::new(
                "steps",
                format!("must have at most {MAX_STEPS} steps"),
            ));
        }
        for (index, step) in self.steps.iter().enumerate() {
            let field = format!("steps[{index}].text");
            match step.kind {
                StepType::Invite => {
                    check_optional_text(&field, step.text.as_deref(), INVITE_NOTE_MAX)?
                }
                StepType::Message | StepType::FollowUp => match &step.text {
                    Some(text) => check_text(&field, text, MESSAGE_MAX, false)?,
                    None => return Err(FieldError::new(field, "is required for message steps")),
                },
                StepType::VisitProfile | StepType::LikePost if step.text.is_some() => {
                    return Err(FieldError::new(field, "is not used by this step type"));
                }
                StepType::VisitProfile | StepType::LikePost => {}
            }
            if step.delay_days > 365 {
                let field = format!("steps[{index}].delay_days");
                return Err(FieldError::new(field, "must be at most 365"));
            }
        }
        if self.target_leads == Some(0) {
            return Err(FieldError::new("target_leads", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn campaign(value: serde_json::Value) -> Result<(), FieldError> {
        serde_json::from_value::<NewCampaign>(value)
            .unwrap()
            .validate()
    }

    #[test]
    fn a_complete_campaign_is_valid() {
        let valid = campaign(json!({
            "name": "Founders Q3",
            "targeting": {
                "source": "sales_navigator",
                "url": "https://www.linkedin.com/sales/search"
            },
            "steps": [
                {"type": "invite", "text": "Hi!"},
                {"type": "message", "delay_days": 2, "text": "Thanks"}
            ],
            "target_leads": 200
        }));
        assert_eq!(valid, Ok(()));
    }

    #[test]
    fn bad_campaigns_name_the_field() {
        let base = || {
            let steps = json!([{"type": "invite"}]);
            json!({"name": "x", "targeting": {"source": "manual"}, "steps": steps})
        };
        let field = |mut value: serde_json::Value, path: &str, replacement: serde_json::Value| {
            value[path] = replacement;
            campaign(value).unwrap_err().field
        };
        assert_eq!(field(base(), "name", json!(" ")), "name");
        assert_eq!(field(base(), "steps", json!([])), "steps");
        assert_eq!(
            field(base(), "steps", json!([{"type": "message"}])),
            "steps[0].text"
        );
        assert_eq!(
            field(
                base(),
                "steps",
                json!([{"type": "invite", "text": "x".repeat(301)}])
            ),
            "steps[0].text"
        );
        assert_eq!(
            field(base(), "targeting", json!({"source": "sales_navigator"})),
            "targeting.url"
        );
        assert_eq!(field(base(), "target_leads", json!(0)), "target_leads");
    }
}
