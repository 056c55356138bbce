//! The records of a workspace and the inputs that create or change them. Inputs validate
//! themselves, so that every entry point (REST, CLI, operator) refuses the same things
//! with the same field names.

mod access;
mod campaign;
mod lead;
mod member;
mod post;
mod signal;
mod tenancy;
mod webhook;

pub use access::*;
pub use campaign::*;
pub use lead::*;
pub use member::*;
pub use post::*;
pub use signal::*;
pub use tenancy::*;
pub use webhook::*;

/// Input refused because of one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a free-text field's length in characters.
pub(crate) fn check_text(
    field: &str,
    value: &str,
    max_chars: usize,
    allow_empty: bool,
) -> Result<(), FieldError> {
    if !allow_empty && value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

pub(crate) fn check_optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), FieldError> {
    value.map_or(Ok(()), |value| check_text(field, value, max_chars, false))
}

/// Checks an `http(s)` URL field.
pub(crate) fn check_http_url(field: &str, value: &str) -> Result<url::Url, FieldError> {
    check_text(field, value, 2_048, false)?;
    let url = url::Url::parse(value)
        .map_err(|e| FieldError::new(field, format!("is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(FieldError::new(field, "must be an http or https URL"));
    }
    Ok(url)
}

/// Deserializes a field that distinguishes absent (`None`) from `null` (`Some(None)`).
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
