use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;
use crate::plan::Plan;
use crate::time::{Timestamp, serde_rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    /// Per-seat tokens an agency workspace may hold at once.
    pub seats: Option<u32>,
    /// Limits that replace the plan's for this workspace.
    pub limits: LimitOverrides,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the subscription ended; the workspace's tokens stop working then.
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
    /// A suspended workspace keeps its data, but its tokens stop working until it is lifted.
    pub suspended: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub requests_per_minute: Option<u32>,
    pub webhook_events_per_minute: Option<u32>,
}

impl Workspace {
    /// REST requests per minute: the override, else the plan's.
    pub fn requests_per_minute(&self) -> Option<u32> {
        self.limits
            .requests_per_minute
            .or(self.plan.requests_per_minute())
    }

    /// Outbound webhook attempts per minute: the override, else the plan's; `None` for
    /// no cap.
    pub fn webhook_events_per_minute(&self) -> Option<u32> {
        self.limits
            .webhook_events_per_minute
            .or(self.plan.webhook_events_per_minute())
    }
}

/// Seats an agency workspace gets when none are given: the plan includes ten.
pub const DEFAULT_AGENCY_SEATS: u32 = 10;

/// Workspace names are slugs, so that they work as command arguments and resource names.
pub fn check_workspace_name(name: &str) -> Result<(), FieldError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            "must be 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_names_are_slugs() {
        for name in ["acme", "acme-2", "a"] {
            assert!(check_workspace_name(name).is_ok(), "{name}");
        }
        for name in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac me",
            "ws_1",
            &"a".repeat(64),
        ] {
            assert!(check_workspace_name(name).is_err(), "{name}");
        }
    }
}
