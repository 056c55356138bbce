use serde::Serialize;

use super::FieldError;
use crate::plan::Plan;
use crate::time::{Timestamp, serde_rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    #[serde(with = "serde_rfc3339")]
    pub created_at: Timestamp,
    /// When the subscription ended; the workspace's tokens stop working then.
    #[serde(with = "serde_rfc3339::option")]
    pub cancelled_at: Option<Timestamp>,
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// The public part of the token, safe to show in lists.
    pub prefix: String,
    #[serde(with = "serde_rfc3339")]
    pub created_at: Timestamp,
}

/// What a presented token resolves to; the caller checks the secret against the hash.
#[derive(Debug, Clone)]
pub struct TokenCredentials {
    pub token_id: String,
    pub secret_hash: String,
    pub workspace: Workspace,
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
