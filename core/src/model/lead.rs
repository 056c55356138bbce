use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{FieldError, check_http_url, check_optional_text, check_text, nullable};
use crate::time::{Timestamp, serde_rfc3339};

/// Where a lead stands in the outreach funnel, in funnel order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    New,
    Invited,
    Connected,
    Replied,
    Interested,
    MeetingBooked,
    Won,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::New,
        Stage::Invited,
        Stage::Connected,
        Stage::Replied,
        Stage::Interested,
        Stage::MeetingBooked,
        Stage::Won,
        Stage::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Invited => "invited",
            Stage::Connected => "connected",
            Stage::Replied => "replied",
            Stage::Interested => "interested",
            Stage::MeetingBooked => "meeting_booked",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }

    /// The stage after the lead reached `reached`: it only moves forward, so that a
    /// reply from a lead with a booked meeting does not send it back to `replied`.
    pub fn advanced_to(self, reached: Stage) -> Stage {
        self.max(reached)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown stage `{0}`")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == text)
            .ok_or_else(|| UnknownStage(text.to_owned()))
    }
}

pub type CustomFields = BTreeMap<String, Value>;

/// A lead's own fields, as events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Lead {
    pub id: String,
    pub campaign_id: Option<String>,
    pub name: Option<String>,
    pub linkedin_url: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub stage: Stage,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: CustomFields,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// A lead with its notes, messages and activity, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LeadWithHistory {
    #[serde(flatten)]
    pub lead: Lead,
    pub notes: Vec<Note>,
    pub messages: Vec<Message>,
    pub activities: Vec<Activity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Note {
    pub id: String,
    pub text: String,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub direction: Direction,
    pub text: String,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: Timestamp,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityType {
    /// The lead accepted the invitation.
    Connected,
    /// The lead engaged with one of the workspace's posts.
    Opened,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Activity {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ActivityType,
    pub post_url: Option<String>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 64;
const MAX_CUSTOM_FIELDS: usize = 100;
const MAX_CUSTOM_KEY_CHARS: usize = 64;
const MAX_CUSTOM_VALUE_BYTES: usize = 4_096;
pub const MAX_NOTE_CHARS: usize = 10_000;
pub const MAX_MESSAGE_CHARS: usize = 8_000;

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLead {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub linkedin_url: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub stage: Option<Stage>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: CustomFields,
    #[serde(default)]
    pub campaign_id: Option<String>,
}

impl NewLead {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.linkedin_url.is_none() && self.email.is_none() && self.name.is_none() {
            return Err(FieldError::new(
                "linkedin_url",
                "a lead needs a linkedin_url, or contact data (name or email)",
            ));
        }
        check_optional_text("name", self.name.as_deref(), 200)?;
        if let Some(url) = &self.linkedin_url {
            check_linkedin_url(url)?;
        }
        if let Some(email) = &self.email {
            check_email(email)?;
        }
        check_optional_text("company", self.company.as_deref(), 200)?;
        check_optional_text("title", self.title.as_deref(), 200)?;
        check_optional_text("owner", self.owner.as_deref(), 200)?;
        check_tags(&self.tags)?;
        check_custom_fields(&self.custom_fields, true)
    }
}

/// Changes to a lead. Absent fields stay as they are; `owner: null` clears the owner;
/// `custom_fields` merges, and a key set to `null` is removed; `note` appends a note.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadPatch {
    #[serde(default)]
    pub stage: Option<Stage>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<CustomFields>,
    #[serde(default)]
    pub note: Option<String>,
}

impl LeadPatch {
    pub fn validate(&self) -> Result<(), FieldError> {
        if *self == LeadPatch::default() {
            return Err(FieldError::new(
                "body",
                "names nothing to change (stage, owner, tags, custom_fields, note)",
            ));
        }
        if let Some(Some(owner)) = &self.owner {
            check_text("owner", owner, 200, false)?;
        }
        if let Some(tags) = &self.tags {
            check_tags(tags)?;
        }
        if let Some(fields) = &self.custom_fields {
            check_custom_fields(fields, false)?;
        }
        if let Some(note) = &self.note {
            check_text("note", note, MAX_NOTE_CHARS, false)?;
        }
        Ok(())
    }

    /// Applies the changes to `lead`'s own fields; the note is stored by the caller. The
    /// merged custom fields must stay within the limit a new lead has.
    pub fn apply(&self, lead: &mut Lead) -> Result<(), FieldError> {
        if let Some(stage) = self.stage {
            lead.stage = stage;
        }
        if let Some(owner) = &self.owner {
            lead.owner.clone_from(owner);
        }
        if let Some(tags) = &self.tags {
            lead.tags = normalized_tags(tags);
        }
        if let Some(fields) = &self.custom_fields {
            for (key, value) in fields {
                if value.is_null() {
                    lead.custom_fields.remove(key);
                } else {
                    lead.custom_fields.insert(key.clone(), value.clone());
                }
            }
            if lead.custom_fields.len() > MAX_CUSTOM_FIELDS {
                let message = format!("a lead may have at most {MAX_CUSTOM_FIELDS} custom fields");
                return Err(FieldError::new("custom_fields", message));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub direction: Direction,
    pub text: String,
    /// When the message was sent on LinkedIn; defaults to when it is reported.
    #[serde(default, with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
}

impl NewMessage {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("text", &self.text, MAX_MESSAGE_CHARS, false)?;
        check_not_future("sent_at", self.sent_at)
    }
}

/// How far ahead of this server's clock a reported time may be.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A reported time must have happened: a future one would pin the lead's last activity.
fn check_not_future(field: &str, at: Option<Timestamp>) -> Result<(), FieldError> {
    match at {
        Some(at) if at > crate::time::now() + CLOCK_SKEW => {
            Err(FieldError::new(field, "must not be in the future"))
        }
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    #[serde(rename = "type")]
    pub kind: ActivityType,
    /// The post the lead engaged with, for `opened`.
    #[serde(default)]
    pub post_url: Option<String>,
    #[serde(default, with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Timestamp>,
}

impl NewActivity {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_not_future("occurred_at", self.occurred_at)?;
        match (self.kind, &self.post_url) {
            (ActivityType::Connected, Some(_)) => Err(FieldError::new(
                "post_url",
                "is only used with type `opened`",
            )),
            (_, Some(url)) => check_http_url("post_url", url).map(|_| ()),
            _ => Ok(()),
        }
    }
}

pub(super) fn check_linkedin_url(url: &str) -> Result<(), FieldError> {
    let parsed = check_http_url("linkedin_url", url)?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if host == "linkedin.com" || host.ends_with(".linkedin.com") {
        Ok(())
    } else {
        Err(FieldError::new(
            "linkedin_url",
            "must be a linkedin.com URL",
        ))
    }
}

pub(super) fn check_email(email: &str) -> Result<(), FieldError> {
    check_text("email", email, 254, false)?;
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(char::is_whitespace)
            && !domain.contains('@')
    });
    if valid {
        Ok(())
    } else {
        Err(FieldError::new("email", "is not an email address"))
    }
}

fn check_tags(tags: &[String]) -> Result<(), FieldError> {
    if tags.len() > MAX_TAGS {
        return Err(FieldError::new(
            "tags",
            format!("must have at most {MAX_TAGS} tags"),
        ));
    }
    for (index, tag) in tags.iter().enumerate() {
        check_text(&format!("tags[{index}]"), tag, MAX_TAG_CHARS, false)?;
    }
    Ok(())
}

fn check_custom_fields(fields: &CustomFields, creating: bool) -> Result<(), FieldError> {
    if fields.len() > MAX_CUSTOM_FIELDS {
        let message = format!("must have at most {MAX_CUSTOM_FIELDS} fields");
        return Err(FieldError::new("custom_fields", message));
    }
    for (key, value) in fields {
        let field = format!("custom_fields.{key}");
        check_text(&field, key, MAX_CUSTOM_KEY_CHARS, false)?;
        let scalar = matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
            || (value.is_null() && !creating);
        if !scalar {
            return Err(FieldError::new(
                field,
                "must be a string, number or boolean",
            ));
        }
        if let Value::String(text) = value {
            check_text(&field, text, MAX_CUSTOM_VALUE_BYTES, true)?;
        }
        if value.to_string().len() > MAX_CUSTOM_VALUE_BYTES {
            let message = format!("must be at most {MAX_CUSTOM_VALUE_BYTES} bytes");
            return Err(FieldError::new(field, message));
        }
    }
    Ok(())
}

/// Tags as stored: trimmed, without duplicates, in the order given.
pub fn normalized_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if !out.iter().any(|seen| seen == tag) {
            out.push(tag.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stages_only_move_forward_on_activity() {
        assert_eq!(Stage::New.advanced_to(Stage::Replied), Stage::Replied);
        assert_eq!(
            Stage::MeetingBooked.advanced_to(Stage::Replied),
            Stage::MeetingBooked
        );
        assert_eq!(
            Stage::Invited.advanced_to(Stage::Connected),
            Stage::Connected
        );
    }

    #[test]
    fn a_lead_needs_a_profile_or_contact_data() {
        let lead: NewLead = serde_json::from_value(json!({"company": "Acme"})).unwrap();
        assert_eq!(lead.validate().unwrap_err().field, "linkedin_url");
        let lead: NewLead =
            serde_json::from_value(json!({"linkedin_url": "https://www.linkedin.com/in/sarah"}))
                .unwrap();
        assert_eq!(lead.validate(), Ok(()));
    }

    #[test]
    fn lead_fields_are_checked_by_name() {
        let check = |value: serde_json::Value| {
            serde_json::from_value::<NewLead>(value)
                .unwrap()
                .validate()
                .unwrap_err()
                .field
        };
        assert_eq!(
            check(json!({"linkedin_url": "https://evil.example/in/x"})),
            "linkedin_url"
        );
        assert_eq!(
            check(json!({"name": "x", "email": "not-an-email"})),
            "email"
        );
        assert_eq!(check(json!({"name": "x", "tags": ["ok", ""]})), "tags[1]");
        assert_eq!(
            check(json!({"name": "x", "custom_fields": {"deal": {"n": 1}}})),
            "custom_fields.deal"
        );
        assert_eq!(
            check(json!({"name": "x", "custom_fields": {"deal": null}})),
            "custom_fields.deal"
        );
    }

    #[test]
    fn patches_cannot_grow_custom_fields_past_the_limit() {
        let mut lead = Lead {
            id: "ld_1".into(),
            campaign_id: None,
            name: None,
            linkedin_url: None,
            email: None,
            company: None,
            title: None,
            stage: Stage::New,
            owner: None,
            tags: vec![],
            custom_fields: (0..MAX_CUSTOM_FIELDS)
                .map(|n| (format!("k{n}"), json!(n)))
                .collect(),
            last_activity_at: None,
            created_at: crate::time::now(),
            updated_at: crate::time::now(),
        };
        let one_more: LeadPatch =
            serde_json::from_value(json!({"custom_fields": {"extra": 1}})).unwrap();
        assert_eq!(one_more.validate(), Ok(()), "the patch alone is small");
        assert_eq!(
            one_more.apply(&mut lead).unwrap_err().field,
            "custom_fields"
        );
        let replace: LeadPatch =
            serde_json::from_value(json!({"custom_fields": {"k0": null, "extra": 1}})).unwrap();
        assert_eq!(replace.apply(&mut lead), Ok(()));
    }

    #[test]
    fn custom_field_text_has_the_rules_of_other_text() {
        let lead: NewLead =
            serde_json::from_value(json!({"name": "x", "custom_fields": {"note": "bell\u{7}"}}))
                .unwrap();
        assert_eq!(lead.validate().unwrap_err().field, "custom_fields.note");
    }

    #[test]
    fn patches_merge_custom_fields_and_clear_owner_with_null() {
        let patch: LeadPatch = serde_json::from_value(json!({
            "owner": null,
            "tags": ["vip", " vip", "emea"],
            "custom_fields": {"plan": "pro", "old": null}
        }))
        .unwrap();
        assert_eq!(patch.validate(), Ok(()));
        let mut lead = Lead {
            id: "ld_1".into(),
            campaign_id: None,
            name: None,
            linkedin_url: None,
            email: None,
            company: None,
            title: None,
            stage: Stage::New,
            owner: Some("ana".into()),
            tags: vec![],
            custom_fields: [
                ("old".to_string(), json!(1)),
                ("keep".to_string(), json!(true)),
            ]
            .into_iter()
            .collect(),
            last_activity_at: None,
            created_at: crate::time::now(),
            updated_at: crate::time::now(),
        };
        patch.apply(&mut lead).unwrap();
        assert_eq!(lead.owner, None);
        assert_eq!(lead.tags, vec!["vip", "emea"]);
        assert_eq!(lead.custom_fields.get("plan"), Some(&json!("pro")));
        assert_eq!(lead.custom_fields.get("keep"), Some(&json!(true)));
        assert!(!lead.custom_fields.contains_key("old"));
    }

    #[test]
    fn an_empty_patch_is_refused() {
        let patch: LeadPatch = serde_json::from_value(json!({})).unwrap();
        assert_eq!(patch.validate().unwrap_err().field, "body");
        let absent_owner: LeadPatch = serde_json::from_value(json!({"stage": "won"})).unwrap();
        assert_eq!(absent_owner.owner, None);
    }

    #[test]
    fn post_url_goes_with_opened_only() {
        let activity: NewActivity = serde_json::from_value(
            json!({"type": "connected", "post_url": "https://www.linkedin.com/posts/1"}),
        )
        .unwrap();
        assert_eq!(activity.validate().unwrap_err().field, "post_url");
    }
}
