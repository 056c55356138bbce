//! API tokens: `ssk_<public id>_<secret>`. The public id finds the row; only a SHA-256
//! hash of the secret is stored, and it is compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const TOKEN_PREFIX: &str = "ssk_";
const PUBLIC_ID_LEN: usize = 12;
const SECRET_LEN: usize = 32;
const PUBLIC_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const SECRET_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly issued token. `token` is shown once and never stored.
#[derive(Clone)]
pub struct IssuedToken {
    pub public_id: String,
    pub secret_hash: String,
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("public_id", &self.public_id)
            .finish_non_exhaustive()
    }
}

/// The two halves of a presented token.
pub struct PresentedToken<'a> {
    pub public_id: &'a str,
    secret: &'a str,
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the operating system provides randomness");
        for byte in buf {
            if usize::from(byte) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
            }
        }
    }
    out
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn issue() -> IssuedToken {
    let public_id = random_text(PUBLIC_ALPHABET, PUBLIC_ID_LEN);
    let secret = random_text(SECRET_ALPHABET, SECRET_LEN);
    let token = format!("{TOKEN_PREFIX}{public_id}_{secret}");
    IssuedToken {
        secret_hash: hash_secret(&secret),
        public_id,
        token,
    }
}

/// A token issued earlier and kept outside the store (in a Kubernetes Secret), in the form
/// the store takes, so that its hash can be stored again; `None` when it is not a token.
pub fn reissue(token: &str) -> Option<IssuedToken> {
    let presented = parse(token)?;
    Some(IssuedToken {
        public_id: presented.public_id.to_owned(),
        secret_hash: hash_secret(presented.secret),
        token: token.to_owned(),
    })
}

/// Splits a presented token; `None` when it does not have the token's shape.
pub fn parse(token: &str) -> Option<PresentedToken<'_>> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (public_id, secret) = rest.split_once('_')?;
    let well_formed = public_id.len() == PUBLIC_ID_LEN
        && secret.len() == SECRET_LEN
        && public_id.bytes().all(|b| PUBLIC_ALPHABET.contains(&b))
        && secret.bytes().all(|b| SECRET_ALPHABET.contains(&b));
    well_formed.then_some(PresentedToken { public_id, secret })
}

impl PresentedToken<'_> {
    /// Whether the secret matches the stored hash, compared in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        let presented = hash_secret(self.secret);
        presented.len() == stored_hash.len()
            && bool::from(presented.as_bytes().ct_eq(stored_hash.as_bytes()))
    }
}

/// The part of a token that may be shown in lists and logs.
pub fn display_prefix(public_id: &str) -> String {
    format!("{TOKEN_PREFIX}{public_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_and_match_their_hash() {
        let issued = issue();
        assert!(issued.token.starts_with(TOKEN_PREFIX));
        let presented = parse(&issued.token).expect("well formed");
        assert_eq!(presented.public_id, issued.public_id);
        assert!(presented.matches(&issued.secret_hash));
        assert!(
            !issued
                .secret_hash
                .contains(&issued.token[TOKEN_PREFIX.len() + 13..])
        );
    }

    #[test]
    fn a_different_secret_does_not_match() {
        let issued = issue();
        let other = issue();
        let forged = format!("{TOKEN_PREFIX}{}_{}", issued.public_id, &other.token[17..]);
        let presented = parse(&forged).expect("well formed");
        assert!(!presented.matches(&issued.secret_hash));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "ssk_",
            "ssk_abc_def",
            "Bearer x",
            "ssk_ABCDEFGHIJKL_0123456789abcdef0123456789abcdef",
        ] {
            assert!(parse(token).is_none(), "{token}");
        }
    }

    #[test]
    fn a_kept_token_reissues_with_the_same_hash() {
        let issued = issue();
        let again = reissue(&issued.token).expect("a token");
        assert_eq!(again.public_id, issued.public_id);
        assert_eq!(again.secret_hash, issued.secret_hash);
        assert!(reissue("ssk_short_x").is_none());
    }

    #[test]
    fn tokens_are_unique() {
        let tokens: std::collections::HashSet<String> = (0..100).map(|_| issue().token).collect();
        assert_eq!(tokens.len(), 100);
    }
}
