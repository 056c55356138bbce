//! Request extractors whose rejections are API errors that name the offending field.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body, limited in size and parsed strictly.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(ApiError::BodyTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let bytes = read_limited(request.into_body()).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// How long a client may take to send its body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) async fn read_limited(body: Body) -> Result<bytes::Bytes, ApiError> {
    tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::BodyTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                ApiError::MalformedJson("the request body could not be read".into())
            }
        })
}

/// Parses JSON, naming the field a type error is about.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is an object; serde would otherwise take an array by field position.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b == b'[') {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(format!("request body is not valid JSON: {inner}"));
        }
        let message = strip_position(&inner.to_string());
        let field = if path == "." {
            named_field(&message)
        } else {
            path
        };
        ApiError::Invalid { field, message }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(format!("request body is not valid JSON: {e}")))?;
    if let Some(field) = nul_in_json(bytes) {
        return Err(ApiError::invalid(field, NUL_MESSAGE));
    }
    Ok(value)
}

/// Text holding U+0000 cannot be stored (PostgreSQL refuses it) and is never meant.
const NUL_MESSAGE: &str = "must not contain the character U+0000";

/// The path of a string (or key) holding U+0000, when the body has one. Only a body with
/// the escape `\u0000` can: JSON does not allow the raw byte.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    fn find(value: &serde_json::Value, path: &str) -> Option<String> {
        let here = || {
            Some(if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            })
        };
        let join = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            serde_json::Value::String(text) if text.contains('\0') => here(),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(n, item)| find(item, &format!("{path}[{n}]"))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                if key.contains('\0') {
                    here()
                } else {
                    find(item, &join(key))
                }
            }),
            _ => None,
        }
    }
    find(&value, "")
}

/// `unknown field `x`` and `missing field `x`` are about the root; name the field itself.
fn named_field(message: &str) -> String {
    let named = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    named
        .then(|| message.split('`').nth(1))
        .flatten()
        .map_or_else(|| "body".to_owned(), str::to_owned)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string parsed strictly into `T`: unknown or repeated parameters are refused,
/// naming them.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = url::form_urlencoded::parse(query.as_bytes());
    if let Some((name, _)) = pairs
        .clone()
        .find(|(n, v)| n.contains('\0') || v.contains('\0'))
    {
        return Err(ApiError::invalid(name.replace('\0', ""), NUL_MESSAGE));
    }
    let deserializer = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = if path == "." {
            named_field(&message)
        } else {
            path
        };
        let message = if message.starts_with("unknown field") {
            "is not a parameter of this endpoint".to_owned()
        } else {
            message
        };
        ApiError::Invalid { field, message }
    })
}

/// A resource id from the path. An id that is not valid text cannot name anything, so it
/// is not found, as JSON like every other error.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .filter(|axum::extract::Path(id)| !id.contains('\0'))
            .map(|axum::extract::Path(id)| PathId(id))
            .ok_or(ApiError::NotFound("resource"))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        url: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<u32>,
        stage: Option<String>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let field = |query: &str| match parse_query::<Params>(query) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(field("colour=red"), "colour");
        assert_eq!(field("limit=ten"), "limit");
        assert_eq!(field("stage=a&stage=b"), "stage");
        assert!(parse_query::<Params>("limit=5&stage=new").is_ok());
    }

    fn field_of(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(r#"{"url": 1}"#), "url");
        assert_eq!(field_of(r#"{"url": "x", "extra": 1}"#), "extra");
        assert_eq!(field_of(r#"{}"#), "url");
        assert_eq!(
            field_of(r#"{"url": "x", "nested": {"count": -1}}"#),
            "nested.count"
        );
    }

    #[test]
    fn text_holding_nul_is_refused_naming_its_field() {
        let nested = r#"{"url": "x", "nested": {"count": 1}, "extra": ["a", "b\u0000"]}"#;
        assert_eq!(nul_in_json(nested.as_bytes()).as_deref(), Some("extra[1]"));
        let error = parse_json::<Body>(br#"{"url": "https://a\u0000b"}"#).unwrap_err();
        assert!(
            matches!(&error, ApiError::Invalid { field, .. } if field == "url"),
            "{error:?}"
        );
        let escaped_backslash = br#"{"url": "C:\\u0000"}"#;
        assert!(parse_json::<Body>(escaped_backslash).is_ok());
        let error = parse_query::<Params>("limit=%00").unwrap_err();
        assert!(
            matches!(&error, ApiError::Invalid { field, .. } if field == "limit"),
            "{error:?}"
        );
    }

    #[test]
    fn arrays_are_not_taken_for_objects() {
        assert!(matches!(
            parse_json::<Body>(br#" ["x", null]"#),
            Err(ApiError::Invalid { field, .. }) if field == "body"
        ));
    }

    #[test]
    fn syntax_errors_and_trailing_data_are_malformed_json() {
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"url": "x"} {}"#),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
