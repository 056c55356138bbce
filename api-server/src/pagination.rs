//! Cursor pagination: `?limit=` and an opaque `?cursor=` that carries the last id seen.
//! Lists are ordered by id, which is unique and increases with creation time, so a cursor
//! stays exact while rows are inserted concurrently.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use socialscalr_core::ids;
use socialscalr_core::store::{Page, PageRequest};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct ListResponse<T: Serialize> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: Serialize> ListResponse<T> {
    pub fn from_page(page: Page<T>) -> Self {
        Self {
            data: page.items,
            next_cursor: page.next_after.as_deref().map(encode_cursor),
        }
    }
}

fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// A page from `limit` and `cursor`; the cursor must belong to a list of `prefix` ids.
pub fn page_request(
    limit: Option<u32>,
    cursor: Option<&str>,
    prefix: &str,
    max_limit: u32,
) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT.min(max_limit),
        Some(limit) if (1..=max_limit).contains(&limit) => limit,
        Some(_) => {
            let message = format!("must be a whole number from 1 to {max_limit}");
            return Err(ApiError::invalid("limit", message));
        }
    };
    let after = cursor
        .map(|cursor| decode_cursor(cursor, prefix))
        .transpose()?;
    Ok(PageRequest { limit, after })
}

fn decode_cursor(cursor: &str, prefix: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|id| ids::has_prefix(id, prefix))
        .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor of this list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let id = ids::new_id(ids::LEAD);
        let cursor = encode_cursor(&id);
        assert_eq!(decode_cursor(&cursor, ids::LEAD).unwrap(), id);
        assert!(decode_cursor(&cursor, ids::CAMPAIGN).is_err());
        assert!(decode_cursor("!!!", ids::LEAD).is_err());
        assert!(decode_cursor(&encode_cursor("ld_' OR 1=1"), ids::LEAD).is_err());
    }
}

/// `limit` and `cursor`, for lists with no filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
