use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lead::check_linkedin_url;
use super::{FieldError, check_http_url, check_optional_text, check_text};
use crate::time::{Timestamp, serde_rfc3339};

/// LinkedIn's limits on a post: its text and the images attached to it.
pub const MAX_POST_CHARS: usize = 3_000;
pub const MAX_POST_MEDIA: usize = 9;
const MAX_DETAIL_CHARS: usize = 1_000;
/// How far ahead a post may be scheduled.
const MAX_SCHEDULE_DAYS: i64 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    Scheduled,
    Published,
    Failed,
}

impl PostStatus {
    pub const ALL: [PostStatus; 3] = [
        PostStatus::Scheduled,
        PostStatus::Published,
        PostStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Scheduled => "scheduled",
            PostStatus::Published => "published",
            PostStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for PostStatus {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PostStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| FieldError::new("status", "must be one of scheduled, published, failed"))
    }
}

/// Why a post did not make it to LinkedIn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostFailureReason {
    /// The browser running the outreach engine closed before the post went out.
    BrowserClosed,
    LinkedinRejected,
    Other,
    /// Nothing reported a result well after the post's time: the browser never ran it.
    /// Only the platform sets this one.
    NotRun,
}

impl PostFailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PostFailureReason::BrowserClosed => "browser_closed",
            PostFailureReason::LinkedinRejected => "linkedin_rejected",
            PostFailureReason::Other => "other",
            PostFailureReason::NotRun => "not_run",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Post {
    pub id: String,
    pub text: String,
    pub media_urls: Vec<String>,
    pub status: PostStatus,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: Timestamp,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<Timestamp>,
    /// Where the published post is on LinkedIn.
    pub linkedin_url: Option<String>,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failed_at: Option<Timestamp>,
    pub failure_reason: Option<PostFailureReason>,
    pub failure_detail: Option<String>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub text: String,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: Timestamp,
    #[serde(default)]
    pub media_urls: Vec<String>,
}

impl NewPost {
    /// Checks the post as of `now`: its time must still be ahead.
    pub fn validate(&self, now: Timestamp) -> Result<(), FieldError> {
        check_text("text", &self.text, MAX_POST_CHARS, false)?;
        if self.scheduled_at <= now {
            return Err(FieldError::new("scheduled_at", "must be in the future"));
        }
        if self.scheduled_at > now + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
            let message = format!("must be at most {MAX_SCHEDULE_DAYS} days ahead");
            return Err(FieldError::new("scheduled_at", message));
        }
        if self.media_urls.len() > MAX_POST_MEDIA {
            let message = format!("must have at most {MAX_POST_MEDIA} URLs");
            return Err(FieldError::new("media_urls", message));
        }
        for (index, url) in self.media_urls.iter().enumerate() {
            let field = format!("media_urls[{index}]");
            if check_http_url(&field, url)?.scheme() != "https" {
                return Err(FieldError::new(field, "must be an https URL"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostOutcome {
    Published,
    Failed,
}

/// What the outreach engine reports about a post it ran: `published` with the post's
/// `linkedin_url`, or `failed` with a `reason` and an optional `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostResult {
    pub outcome: PostOutcome,
    #[serde(default)]
    pub linkedin_url: Option<String>,
    #[serde(default)]
    pub reason: Option<PostFailureReason>,
    #[serde(default)]
    pub detail: Option<String>,
}

impl PostResult {
    pub fn validate(&self) -> Result<(), FieldError> {
        match self.outcome {
            PostOutcome::Published => {
                let Some(url) = &self.linkedin_url else {
                    return Err(FieldError::new(
                        "linkedin_url",
                        "is required when the outcome is `published`",
                    ));
                };
                check_linkedin_url(url)?;
                for (field, given) in [
                    ("reason", self.reason.is_some()),
                    ("detail", self.detail.is_some()),
                ] {
                    if given {
                        return Err(FieldError::new(field, "is only used with outcome `failed`"));
                    }
                }
            }
            PostOutcome::Failed => {
                if self.linkedin_url.is_some() {
                    return Err(FieldError::new(
                        "linkedin_url",
                        "is only used with outcome `published`",
                    ));
                }
                match self.reason {
                    None => {
                        return Err(FieldError::new(
                            "reason",
                            "is required when the outcome is `failed`",
                        ));
                    }
                    Some(PostFailureReason::NotRun) => {
                        return Err(FieldError::new(
                            "reason",
                            "`not_run` is set by the platform; report browser_closed, \
                             linkedin_rejected or other",
                        ));
                    }
                    Some(_) => {}
                }
                check_optional_text("detail", self.detail.as_deref(), MAX_DETAIL_CHARS)?;
            }
        }
        Ok(())
    }

    /// Whether `post` already holds exactly this result, so that a repeated report is
    /// answered without changing anything.
    pub fn is_recorded_on(&self, post: &Post) -> bool {
        match self.outcome {
            PostOutcome::Published => {
                post.status == PostStatus::Published && post.linkedin_url == self.linkedin_url
            }
            PostOutcome::Failed => {
                post.status == PostStatus::Failed
                    && post.failure_reason == self.reason
                    && post.failure_detail == self.detail
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::time::now;

    fn new_post(value: serde_json::Value) -> NewPost {
        serde_json::from_value(value).unwrap()
    }

    fn in_an_hour() -> String {
        crate::time::rfc3339(now() + chrono::Duration::hours(1))
    }

    #[test]
    fn a_post_with_text_a_future_time_and_https_media_is_valid() {
        let post = new_post(json!({
            "text": "We are hiring.",
            "scheduled_at": in_an_hour(),
            "media_urls": ["https://cdn.example.com/a.png"]
        }));
        assert_eq!(post.validate(now()), Ok(()));
    }

    #[test]
    fn bad_posts_name_the_field() {
        let field = |value: serde_json::Value| new_post(value).validate(now()).unwrap_err().field;
        let at = in_an_hour();
        assert_eq!(field(json!({"text": " ", "scheduled_at": at})), "text");
        let long = "x".repeat(MAX_POST_CHARS + 1);
        assert_eq!(field(json!({"text": long, "scheduled_at": at})), "text");
        let past = crate::time::rfc3339(now() - chrono::Duration::seconds(1));
        assert_eq!(
            field(json!({"text": "x", "scheduled_at": past})),
            "scheduled_at"
        );
        let far = crate::time::rfc3339(now() + chrono::Duration::days(400));
        assert_eq!(
            field(json!({"text": "x", "scheduled_at": far})),
            "scheduled_at"
        );
        let plain = json!({"text": "x", "scheduled_at": at, "media_urls": [
            "https://cdn.example.com/a.png", "http://cdn.example.com/b.png"
        ]});
        assert_eq!(field(plain), "media_urls[1]");
        let many = vec!["https://cdn.example.com/a.png"; MAX_POST_MEDIA + 1];
        let many = json!({"text": "x", "scheduled_at": at, "media_urls": many});
        assert_eq!(field(many), "media_urls");
    }

    #[test]
    fn the_longest_post_linkedin_takes_is_valid() {
        let text = "é".repeat(MAX_POST_CHARS);
        let post = new_post(json!({"text": text, "scheduled_at": in_an_hour()}));
        assert_eq!(post.validate(now()), Ok(()));
    }

    #[test]
    fn results_carry_what_their_outcome_needs() {
        let field = |value: serde_json::Value| {
            serde_json::from_value::<PostResult>(value)
                .unwrap()
                .validate()
                .map_err(|e| e.field)
        };
        let url = "https://www.linkedin.com/feed/update/urn:li:activity:1";
        assert_eq!(
            field(json!({"outcome": "published", "linkedin_url": url})),
            Ok(())
        );
        assert_eq!(
            field(json!({"outcome": "published"})),
            Err("linkedin_url".into())
        );
        assert_eq!(
            field(json!({"outcome": "published", "linkedin_url": "https://example.com/p"})),
            Err("linkedin_url".into())
        );
        assert_eq!(
            field(json!({"outcome": "published", "linkedin_url": url, "reason": "other"})),
            Err("reason".into())
        );
        assert_eq!(
            field(json!({"outcome": "failed", "reason": "browser_closed", "detail": "tab"})),
            Ok(())
        );
        assert_eq!(field(json!({"outcome": "failed"})), Err("reason".into()));
        assert_eq!(
            field(json!({"outcome": "failed", "reason": "not_run"})),
            Err("reason".into())
        );
        assert_eq!(
            field(json!({"outcome": "failed", "reason": "other", "linkedin_url": url})),
            Err("linkedin_url".into())
        );
    }
}
