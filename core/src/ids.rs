//! Prefixed, time-ordered identifiers (`ld_01J…`): a readable resource prefix and a ULID,
//! so that ids sort by creation time and a stray id is recognisable at a glance.

use std::sync::Mutex;

use ulid::{Generator, Ulid};

pub const WORKSPACE: &str = "ws";
pub const TOKEN: &str = "tok";
pub const CAMPAIGN: &str = "cmp";
pub const LEAD: &str = "ld";
pub const NOTE: &str = "note";
pub const MESSAGE: &str = "msg";
pub const ACTIVITY: &str = "act";
pub const SIGNAL: &str = "sig";
pub const POST: &str = "post";
pub const ENDPOINT: &str = "ep";
pub const EVENT: &str = "evt";
/// One row per (event, endpoint) pair; it lives across its retries.
pub const DELIVERY: &str = "dlv";
/// One attempt of a delivery; sent as `X-SocialScalr-Delivery-Id`, unique per attempt.
pub const ATTEMPT: &str = "del";

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A new id with the given prefix. Ids made by one process are strictly increasing.
pub fn new_id(prefix: &str) -> String {
    let ulid = {
        let mut guard = GENERATOR
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generator = guard.get_or_insert_with(Generator::new);
        // The generator only fails when 2^80 ids were made in one millisecond.
        generator.generate().unwrap_or_else(|_| Ulid::new())
    };
    format!("{prefix}_{ulid}")
}

/// Whether `id` looks like an id of the given prefix (the prefix, `_`, then a ULID).
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|ulid| Ulid::from_string(ulid).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_increase() {
        let first = new_id(LEAD);
        let second = new_id(LEAD);
        assert!(has_prefix(&first, LEAD));
        assert!(!has_prefix(&first, CAMPAIGN));
        assert!(first < second);
    }

    #[test]
    fn malformed_ids_are_not_recognised() {
        assert!(!has_prefix("ld_", LEAD));
        assert!(!has_prefix("ld_not-a-ulid", LEAD));
        assert!(!has_prefix("ld01J0000000000000000000000", LEAD));
    }
}
