//! Webhook signatures. The key is the endpoint secret's text exactly as shown to the user,
//! so that a receiver can verify with any HMAC library and no decoding step.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "X-SocialScalr-Signature";
pub const TIMESTAMPED_SIGNATURE_HEADER: &str = "X-SocialScalr-Signature-Timestamped";
pub const TIMESTAMP_HEADER: &str = "X-SocialScalr-Timestamp";
pub const DELIVERY_ID_HEADER: &str = "X-SocialScalr-Delivery-Id";
pub const EVENT_ID_HEADER: &str = "X-SocialScalr-Event-Id";
pub const EVENT_HEADER: &str = "X-SocialScalr-Event";
pub const ATTEMPT_HEADER: &str = "X-SocialScalr-Attempt";
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Prefix of every endpoint secret, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "whsec_";

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// `sha256=<hex>`: HMAC-SHA256 of the raw body.
pub fn body_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, &[body]))
}

/// `v1=<hex>`: HMAC-SHA256 of `<timestamp>.<body>`, which lets a receiver refuse replays.
pub fn timestamped_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    format!(
        "v1={}",
        hmac_hex(secret, &[timestamp.as_bytes(), b".", body])
    )
}

/// Checks a `sha256=` header value against the body, in constant time.
pub fn verify_body_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let expected = body_signature(secret, body);
    header.split(',').map(str::trim).any(|candidate| {
        candidate.len() == expected.len()
            && bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// A new endpoint secret: the prefix and 32 random bytes in base64.
pub fn generate_secret() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed independently: `printf %s BODY | openssl dgst -sha256 -hmac KEY`.
    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"event":"lead.replied","id":"evt_1"}"#;

    #[test]
    fn body_signature_is_lowercase_hex_hmac_of_the_raw_body() {
        assert_eq!(
            body_signature(SECRET, BODY),
            "sha256=cd803e9c9736b354ca17851f26f75549902077a648362fb8fb6fa1a64fddeef3"
        );
    }

    #[test]
    fn timestamped_signature_covers_timestamp_and_body() {
        let one = timestamped_signature(SECRET, 1_700_000_000, BODY);
        let other = timestamped_signature(SECRET, 1_700_000_001, BODY);
        assert!(one.starts_with("v1="));
        assert_ne!(one, other);
        assert_eq!(
            one,
            format!("v1={}", hmac_hex(SECRET, &[b"1700000000.", BODY]))
        );
    }

    #[test]
    fn verification_accepts_the_signature_and_refuses_tampering() {
        let header = body_signature(SECRET, BODY);
        assert!(verify_body_signature(SECRET, BODY, &header));
        assert!(!verify_body_signature("whsec_other", BODY, &header));
        assert!(!verify_body_signature(SECRET, b"{}", &header));
        assert!(!verify_body_signature(SECRET, BODY, "sha256=00"));
        assert!(verify_body_signature(
            SECRET,
            BODY,
            &format!("sha256=00, {header}")
        ));
    }

    #[test]
    fn secrets_are_prefixed_and_distinct() {
        let one = generate_secret();
        assert!(one.starts_with(SECRET_PREFIX));
        assert_eq!(one.len(), SECRET_PREFIX.len() + 44);
        assert_ne!(one, generate_secret());
    }
}
