use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use super::{FieldError, check_text};
use crate::time::{Timestamp, serde_rfc3339};

/// The resource families a token's scopes name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Campaigns,
    Leads,
    Posts,
    Webhooks,
    Watchtower,
    Audit,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::Campaigns,
        Family::Leads,
        Family::Posts,
        Family::Webhooks,
        Family::Watchtower,
        Family::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Campaigns => "campaigns",
            Family::Leads => "leads",
            Family::Posts => "posts",
            Family::Webhooks => "webhooks",
            Family::Watchtower => "watchtower",
            Family::Audit => "audit",
        }
    }

    /// Whether any token of the workspace may read this path, whatever its scopes.
    pub fn open_to_any_token(path: &str) -> bool {
        let relative = path
            .strip_prefix("/api/v1")
            .unwrap_or(path)
            .trim_start_matches('/');
        relative == "workspace"
    }

    /// The family an API path belongs to; `None` for paths that need `admin`.
    pub fn of_path(path: &str) -> Option<Family> {
        let relative = path
            .strip_prefix("/api/v1")
            .unwrap_or(path)
            .trim_start_matches('/');
        let first = relative.split('/').next().unwrap_or_default();
        match first {
            "campaigns" => Some(Family::Campaigns),
            "leads" => Some(Family::Leads),
            "posts" => Some(Family::Posts),
            "webhooks" => Some(Family::Webhooks),
            "watchtower" => Some(Family::Watchtower),
            "audit-log" => Some(Family::Audit),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

/// What a token may do: `admin` (everything, token management included) or read or
/// write access to one family (`leads:write`, which includes `leads:read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Admin,
    Grant(Family, Access),
}

impl Scope {
    /// Every read and write scope: what a token gets unless told otherwise.
    pub fn all_resources() -> Vec<Scope> {
        Family::ALL
            .into_iter()
            .flat_map(|family| {
                [
                    Scope::Grant(family, Access::Read),
                    Scope::Grant(family, Access::Write),
                ]
            })
            .collect()
    }

    /// Whether holding `self` allows what `needed` allows.
    pub fn covers(self, needed: Scope) -> bool {
        match (self, needed) {
            (Scope::Admin, _) => true,
            (Scope::Grant(..), Scope::Admin) => false,
            (Scope::Grant(held, held_access), Scope::Grant(family, access)) => {
                held == family && held_access >= access
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Admin => f.write_str("admin"),
            Scope::Grant(family, Access::Read) => write!(f, "{}:read", family.as_str()),
            Scope::Grant(family, Access::Write) => write!(f, "{}:write", family.as_str()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown scope `{0}`; expected admin or <family>:read|write with a family of \
         campaigns, leads, posts, webhooks, watchtower, audit"
)]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "admin" {
            return Ok(Scope::Admin);
        }
        let unknown = || UnknownScope(text.to_owned());
        let (family, access) = text.split_once(':').ok_or_else(unknown)?;
        let family = Family::ALL
            .into_iter()
            .find(|f| f.as_str() == family)
            .ok_or_else(unknown)?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => return Err(unknown()),
        };
        Ok(Scope::Grant(family, access))
    }
}

impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("`admin`, or `<family>:read` / `<family>:write`"))
            .examples(["leads:read"])
            .into()
    }
}

impl ToSchema for Scope {}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// The public part of the token, safe to show in lists.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// The agency seat the token belongs to.
    pub seat: Option<String>,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the token stops working: its own expiry, or the end of a rotation's grace.
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// The token that replaced this one in a rotation.
    pub replaced_by: Option<String>,
    /// The Kubernetes resource that declares it (`ApiToken <namespace>/<name>`), when the
    /// operator made it; such a token is changed with kubectl, not over the API.
    pub managed_by: Option<String>,
}

/// A token to issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    #[serde(default = "Scope::all_resources")]
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub seat: Option<String>,
    #[serde(default, with = "serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

impl NewToken {
    pub fn named(name: &str) -> Self {
        NewToken {
            name: name.to_owned(),
            scopes: Scope::all_resources(),
            seat: None,
            expires_at: None,
        }
    }

    pub fn validate(&self, now: Timestamp) -> Result<(), FieldError> {
        check_text("name", &self.name, 200, false)?;
        if self.scopes.is_empty() {
            return Err(FieldError::new("scopes", "must name at least one scope"));
        }
        if let Some(seat) = &self.seat {
            check_text("seat", seat, 200, false)?;
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(FieldError::new("expires_at", "must be in the future"));
        }
        Ok(())
    }
}

/// What a presented token resolves to; the caller checks the secret against the hash.
#[derive(Debug, Clone)]
pub struct TokenCredentials {
    pub token: ApiToken,
    pub secret_hash: String,
    pub workspace: super::Workspace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_the_same() {
        for text in [
            "admin",
            "leads:read",
            "leads:write",
            "audit:read",
            "watchtower:write",
        ] {
            assert_eq!(text.parse::<Scope>().unwrap().to_string(), text);
        }
        for text in [
            "",
            "leads",
            "leads:delete",
            "users:read",
            "Admin",
            "leads:read:x",
        ] {
            assert!(text.parse::<Scope>().is_err(), "{text}");
        }
    }

    #[test]
    fn write_covers_read_of_its_family_and_admin_covers_all() {
        let write = Scope::Grant(Family::Leads, Access::Write);
        let read = Scope::Grant(Family::Leads, Access::Read);
        assert!(write.covers(read));
        assert!(!read.covers(write));
        assert!(!write.covers(Scope::Grant(Family::Posts, Access::Read)));
        assert!(!write.covers(Scope::Admin));
        assert!(Scope::Admin.covers(write));
    }

    #[test]
    fn paths_map_to_their_family() {
        assert_eq!(
            Family::of_path("/api/v1/leads/ld_1/messages"),
            Some(Family::Leads)
        );
        assert_eq!(Family::of_path("/api/v1/audit-log"), Some(Family::Audit));
        assert_eq!(Family::of_path("/api/v1/tokens/tok_1/rotate"), None);
        assert_eq!(
            Family::of_path("/webhooks/ep_1"),
            Some(Family::Webhooks),
            "inside the nest"
        );
    }
}
