use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;
use super::lead::check_email;
use crate::time::{Timestamp, serde_rfc3339};

/// What a member may do in the workspace's app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`; expected one of owner, admin, member")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

/// A person with access to a workspace, known by their email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Member {
    /// In lowercase: one address is one member, however it was typed.
    pub email: String,
    pub role: Role,
    #[serde(with = "serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub email: String,
    pub role: Role,
}

impl NewMember {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_email(&self.email)
    }
}

/// An email as members are keyed by it.
pub fn normalized_email(email: &str) -> String {
    email.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("Owner".parse::<Role>().is_err());
        assert!("guest".parse::<Role>().is_err());
    }

    #[test]
    fn members_need_an_email_address() {
        let member = |email: &str| NewMember {
            email: email.into(),
            role: Role::Member,
        };
        assert_eq!(member("ana@example.com").validate(), Ok(()));
        assert_eq!(member("ana").validate().unwrap_err().field, "email");
        assert_eq!(member("").validate().unwrap_err().field, "email");
        assert_eq!(normalized_email("Ana@Example.COM"), "ana@example.com");
    }
}
