//! Conversions between model values and the columns of the SQL backends, which store
//! enums as their JSON names, structured values as JSON text and times as microseconds.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Page, Result, StoreError};
use crate::time::{Timestamp, from_micros};

pub(crate) fn enum_text<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => unreachable!("unit enums serialize as strings"),
    }
}

pub(crate) fn decode_enum<T: DeserializeOwned>(column: &str, text: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn decode_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("model values serialize to JSON")
}

pub(crate) fn optional_u32(value: Option<i64>) -> Option<u32> {
    value.and_then(|n| u32::try_from(n).ok())
}

pub(crate) fn optional_time(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(from_micros)
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Finishes a page fetched with one row more than asked for.
pub(crate) fn page_of<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> &str) -> Page<T> {
    let limit = limit as usize;
    let next_after = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|item| id(item).to_owned())
    });
    Page {
        items,
        next_after: next_after.flatten(),
    }
}
