//! One delivery attempt: sign the body (the stored envelope, or the event rendered for a
//! chat service), POST it, and describe what happened.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use socialscalr_core::model::EndpointFormat;
use socialscalr_core::signing::{self, body_signature, timestamped_signature};
use socialscalr_core::store::ClaimedDelivery;
use socialscalr_core::target::TargetPolicy;
use url::Url;

use crate::render;

/// What Slack and Discord document for their webhooks' bodies.
const CHAT_CONTENT_TYPE: &str = "application/json";
/// Discord's seconds until its rate-limit bucket refills, with a fraction.
const RESET_AFTER: HeaderName = HeaderName::from_static("x-ratelimit-reset-after");

/// How much of a receiver's answer the delivery log keeps.
pub const EXCERPT_BYTES: usize = 1_024;

/// What one attempt found out.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: Option<StatusCode>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    pub duration: Duration,
    /// A receiver's `Retry-After` on 429 or 503; for a chat service, the longest wait
    /// any of its hints asks for.
    pub retry_after: Option<Duration>,
}

impl Exchange {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| status.is_success())
    }

    fn failed_before_sending(error: String) -> Self {
        Exchange {
            status: None,
            error: Some(error),
            excerpt: None,
            duration: Duration::ZERO,
            retry_after: None,
        }
    }
}

/// The headers of one attempt that sends `body`. Chat services ignore the signatures;
/// they are sent all the same, for relays that speak those formats and can verify them.
pub fn headers(
    delivery: &ClaimedDelivery,
    body: &[u8],
    secret: &str,
    attempt_id: &str,
    timestamp: i64,
) -> HeaderMap {
    let pairs = [
        (signing::SIGNATURE_HEADER, body_signature(secret, body)),
        (
            signing::TIMESTAMPED_SIGNATURE_HEADER,
            timestamped_signature(secret, timestamp, body),
        ),
        (signing::TIMESTAMP_HEADER, timestamp.to_string()),
        (signing::DELIVERY_ID_HEADER, attempt_id.to_owned()),
        (signing::EVENT_ID_HEADER, delivery.event_id.clone()),
        (
            signing::EVENT_HEADER,
            delivery.event_type.as_str().to_owned(),
        ),
        (signing::ATTEMPT_HEADER, delivery.attempt.to_string()),
    ];
    let mut headers = HeaderMap::with_capacity(pairs.len() + 1);
    let content_type = match delivery.format {
        EndpointFormat::Json => signing::CONTENT_TYPE,
        EndpointFormat::Slack | EndpointFormat::Discord => CHAT_CONTENT_TYPE,
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers
}

pub async fn send(
    client: &reqwest::Client,
    policy: &TargetPolicy,
    delivery: &ClaimedDelivery,
    secret: &str,
    attempt_id: &str,
    timestamp: i64,
) -> Exchange {
    let url = match Url::parse(&delivery.url) {
        Ok(url) => url,
        Err(error) => return Exchange::failed_before_sending(format!("invalid URL: {error}")),
    };
    // Literal addresses never reach the resolver; check them here.
    if let Err(error) = policy.check_url(&url) {
        return Exchange::failed_before_sending(format!("target refused: {error}"));
    }

    let body = render::body(delivery.format, &delivery.payload).into_owned();
    let started = Instant::now();
    let request = client
        .post(url)
        .headers(headers(
            delivery,
            body.as_bytes(),
            secret,
            attempt_id,
            timestamp,
        ))
        .body(body);
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return Exchange {
                status: None,
                error: Some(describe(&error)),
                excerpt: None,
                duration: started.elapsed(),
                retry_after: None,
            };
        }
    };
    let status = response.status();
    let headers = response.headers().clone();

    // Read a bounded excerpt; the client's deadline also bounds a receiver that trickles.
    let mut excerpt = Vec::new();
    let mut error = None;
    while excerpt.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                error = Some(describe(&e));
                break;
            }
        }
    }
    let duration = started.elapsed();
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS if delivery.format.is_chat() => {
            chat_retry_after(&headers, &excerpt)
        }
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => retry_after(&headers),
        _ => None,
    };
    let error = error.or_else(|| {
        if status.is_redirection() {
            Some("redirects are not followed".to_owned())
        } else if !status.is_success() {
            Some(format!("receiver answered {status}"))
        } else {
            None
        }
    });
    Exchange {
        // A body that broke off after a 2xx still counts as received: the receiver
        // accepted the delivery before the transfer failed.
        status: Some(status),
        error: if status.is_success() { None } else { error },
        excerpt: Some(text_excerpt(&excerpt)).filter(|text| !text.is_empty()),
        duration,
        retry_after,
    }
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body failed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// `Retry-After` in whole seconds; the HTTP-date form is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// How long a chat service asks to wait: the longest of `Retry-After` and Discord's
/// `X-RateLimit-Reset-After` header and `retry_after` body field, which may have fractions.
fn chat_retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
    };
    let in_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("retry_after")?.as_f64());
    [header(RETRY_AFTER), header(RESET_AFTER), in_body]
        .into_iter()
        .flatten()
        .filter_map(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .max()
}

/// The first bytes of a response as text, cut on a character boundary.
pub fn text_excerpt(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(EXCERPT_BYTES)];
    let text = String::from_utf8_lossy(bytes);
    // A multi-byte character cut by the limit decodes as a replacement; drop it.
    text.trim_end_matches('\u{fffd}').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_and_cut_on_character_boundaries() {
        let long = "é".repeat(EXCERPT_BYTES);
        let excerpt = text_excerpt(long.as_bytes());
        assert!(excerpt.len() <= EXCERPT_BYTES);
        assert!(excerpt.chars().all(|c| c == 'é'));
        assert_eq!(text_excerpt(b"ok"), "ok");
    }

    #[test]
    fn retry_after_reads_whole_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn chat_services_hints_are_read_with_fractions_and_the_longest_wins() {
        let mut headers = HeaderMap::new();
        assert_eq!(chat_retry_after(&headers, b""), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        assert_eq!(
            chat_retry_after(&headers, b"ok"),
            Some(Duration::from_secs(1))
        );
        headers.insert(RESET_AFTER, HeaderValue::from_static("2.5"));
        assert_eq!(
            chat_retry_after(&headers, b""),
            Some(Duration::from_millis(2_500))
        );
        let body = br#"{"message": "You are being rate limited.", "retry_after": 64.5,
                        "global": false}"#;
        assert_eq!(
            chat_retry_after(&headers, body),
            Some(Duration::from_millis(64_500))
        );
        let nonsense = HeaderMap::from_iter([(RETRY_AFTER, HeaderValue::from_static("-3"))]);
        assert_eq!(
            chat_retry_after(&nonsense, br#"{"retry_after": "soon"}"#),
            None
        );
    }
}
