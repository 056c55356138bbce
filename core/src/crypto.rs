//! Webhook secrets at rest: sealed with ChaCha20-Poly1305 under `SOCIALSCALR_SECRET_KEY`,
//! bound to the row they belong to so that a sealed value copied to another row fails.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the secret key must be 32 bytes written as base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error("a sealed secret is malformed")]
    Malformed,
    #[error("a sealed secret does not open with this key (was SOCIALSCALR_SECRET_KEY changed?)")]
    WrongKey,
}

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From the base64 text of a 32-byte key.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// A new random key as base64, for a first start.
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system provides randomness");
        STANDARD.encode(key)
    }

    /// Seals `plaintext` for the row identified by `owner_id`.
    pub fn seal(&self, owner_id: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: owner_id.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}:{}", STANDARD.encode(out))
    }

    pub fn open(&self, owner_id: &str, sealed: &str) -> Result<String, CryptoError> {
        let encoded = sealed
            .strip_prefix(VERSION)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or(CryptoError::Malformed)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: owner_id.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| CryptoError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_owner() {
        let sealer = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = sealer.seal("ep_1", "whsec_abc");
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(sealer.open("ep_1", &sealed).unwrap(), "whsec_abc");
        assert!(matches!(
            sealer.open("ep_2", &sealed),
            Err(CryptoError::WrongKey)
        ));
        let other = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        assert!(matches!(
            other.open("ep_1", &sealed),
            Err(CryptoError::WrongKey)
        ));
        assert!(matches!(
            sealer.open("ep_1", "garbage"),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn sealing_twice_gives_different_text() {
        let sealer = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        assert_ne!(sealer.seal("ep_1", "s"), sealer.seal("ep_1", "s"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretBox::from_base64("not base64!").is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }
}
