//! Delivery slots per endpoint and per workspace, so that neither one slow receiver nor
//! one tenant's many slow receivers can take the slots every other delivery needs.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct InFlight {
    endpoints: HashMap<String, u32>,
    workspaces: HashMap<String, u32>,
}

/// How many deliveries may be in flight at once to one endpoint and for one workspace.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_endpoint: u32,
    pub per_workspace: u32,
}

impl InFlight {
    /// Takes a slot of the endpoint and its workspace, unless either is full.
    pub fn try_take(&mut self, endpoint: &str, workspace: &str, caps: Caps) -> bool {
        let endpoint_count = self.endpoints.get(endpoint).copied().unwrap_or_default();
        let workspace_count = self.workspaces.get(workspace).copied().unwrap_or_default();
        if endpoint_count >= caps.per_endpoint || workspace_count >= caps.per_workspace {
            return false;
        }
        *self.endpoints.entry(endpoint.to_owned()).or_default() += 1;
        *self.workspaces.entry(workspace.to_owned()).or_default() += 1;
        true
    }

    pub fn give_back(&mut self, endpoint: &str, workspace: &str) {
        for (counts, key) in [
            (&mut self.endpoints, endpoint),
            (&mut self.workspaces, workspace),
        ] {
            if let Some(count) = counts.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(key);
                }
            }
        }
    }

    pub fn full_endpoints(&self, caps: Caps) -> Vec<String> {
        full(&self.endpoints, caps.per_endpoint)
    }

    pub fn full_workspaces(&self, caps: Caps) -> Vec<String> {
        full(&self.workspaces, caps.per_workspace)
    }
}

fn full(counts: &HashMap<String, u32>, cap: u32) -> Vec<String> {
    counts
        .iter()
        .filter(|(_, count)| **count >= cap)
        .map(|(key, _)| key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        per_endpoint: 2,
        per_workspace: 3,
    };

    #[test]
    fn an_endpoint_never_holds_more_than_its_cap() {
        let mut in_flight = InFlight::default();
        assert!(in_flight.try_take("ep1", "ws1", CAPS));
        assert!(in_flight.try_take("ep1", "ws1", CAPS));
        assert!(!in_flight.try_take("ep1", "ws1", CAPS));
        assert_eq!(in_flight.full_endpoints(CAPS), vec!["ep1"]);
        in_flight.give_back("ep1", "ws1");
        assert!(in_flight.try_take("ep1", "ws1", CAPS));
    }

    #[test]
    fn a_workspace_never_holds_more_than_its_cap_across_endpoints() {
        let mut in_flight = InFlight::default();
        for endpoint in ["ep1", "ep2", "ep3"] {
            assert!(in_flight.try_take(endpoint, "ws1", CAPS));
        }
        assert!(!in_flight.try_take("ep4", "ws1", CAPS));
        assert_eq!(in_flight.full_workspaces(CAPS), vec!["ws1"]);
        assert!(
            in_flight.try_take("ep5", "ws2", CAPS),
            "other workspaces are not held up"
        );
    }
}
