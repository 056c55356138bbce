//! Plans and what each one allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Ordered by what a plan includes: each includes everything of the plans before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Pro,
    Agency,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Starter, Plan::Pro, Plan::Agency];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Agency => "agency",
        }
    }

    /// Whether tokens of a workspace on this plan may call the REST API at all.
    pub fn includes_api(self) -> bool {
        !matches!(self, Plan::Free)
    }

    /// REST requests per minute per workspace; `None` where the API is not included.
    pub fn requests_per_minute(self) -> Option<u32> {
        match self {
            Plan::Free => None,
            Plan::Starter => Some(100),
            Plan::Pro | Plan::Agency => Some(600),
        }
    }

    /// Whether `subscription.created` and `subscription.cancelled` reach the workspace's
    /// endpoints: billing events are an agency feature.
    pub fn includes_subscription_events(self) -> bool {
        matches!(self, Plan::Agency)
    }

    /// Outbound webhook events per minute per workspace.
    pub fn webhook_events_per_minute(self) -> Option<u32> {
        match self {
            Plan::Free => None,
            Plan::Starter => Some(25),
            Plan::Pro | Plan::Agency => Some(100),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown plan `{0}`; expected one of free, starter, pro, agency")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|plan| plan.as_str() == text)
            .ok_or_else(|| UnknownPlan(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_from_their_names_only() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>().unwrap(), plan);
        }
        assert!("Pro".parse::<Plan>().is_err());
        assert!("enterprise".parse::<Plan>().is_err());
    }

    #[test]
    fn free_has_no_api_and_paid_plans_have_their_limits() {
        assert!(!Plan::Free.includes_api());
        assert_eq!(Plan::Starter.requests_per_minute(), Some(100));
        assert_eq!(Plan::Starter.webhook_events_per_minute(), Some(25));
        assert_eq!(Plan::Pro.requests_per_minute(), Some(600));
        assert_eq!(Plan::Agency.webhook_events_per_minute(), Some(100));
    }

    #[test]
    fn each_plan_includes_the_ones_before_it() {
        assert!(Plan::Free < Plan::Starter && Plan::Starter < Plan::Pro);
        assert!(Plan::Pro < Plan::Agency);
        let billing: Vec<Plan> = Plan::ALL
            .into_iter()
            .filter(|plan| plan.includes_subscription_events())
            .collect();
        assert_eq!(billing, vec![Plan::Agency]);
    }
}
