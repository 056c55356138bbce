//! The HTTP client for deliveries: no redirects, no proxies, one deadline for the whole
//! exchange, and a resolver that refuses any name resolving to a forbidden address, so
//! that the connection goes only to addresses that were checked.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use socialscalr_core::target::TargetPolicy;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResolveRefused(String);

struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(ResolveRefused(format!("{host} has no addresses")).into());
            }
            // One forbidden address refuses the name, so a mixed answer cannot slip a
            // private address past the check.
            for addr in &addrs {
                policy
                    .check_address(addr.ip())
                    .map_err(|e| ResolveRefused(format!("{host} {e}")))?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

pub fn build(policy: TargetPolicy, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(GuardedResolver { policy }))
        .user_agent(concat!("socialscalr-webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn names_resolving_to_forbidden_addresses_are_refused() {
        let strict = GuardedResolver {
            policy: TargetPolicy::default(),
        };
        let error = match strict.resolve(Name::from_str("localhost").unwrap()).await {
            Ok(_) => panic!("localhost resolved past the guard"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("loopback"), "{error}");

        let loopback_allowed = GuardedResolver {
            policy: TargetPolicy {
                allow_loopback: true,
            },
        };
        let addrs: Vec<SocketAddr> = loopback_allowed
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|addr| addr.ip().is_loopback()));
    }
}
