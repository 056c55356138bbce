//! Which addresses a webhook may be delivered to. Every resolved address is classified
//! after canonicalisation, so that `::ffff:127.0.0.1`, `127.1` or `2130706433` are
//! recognised as the loopback address they are.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Address ranges that are never a public receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    Private,
    LinkLocal,
    Shared,
    Multicast,
    Unspecified,
    Broadcast,
    Documentation,
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Shared => "shared (carrier-grade NAT)",
            AddressClass::Multicast => "multicast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Documentation => "documentation",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// The class of a non-public address, `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    let class = match (a, b, c) {
        (0, _, _) => AddressClass::Unspecified,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::Shared,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (192, 0, 0) | (198, 18..=19, _) => AddressClass::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (224..=239, _, _) => AddressClass::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => AddressClass::Broadcast,
        (240..=255, _, _) => AddressClass::Reserved,
        _ => return None,
    };
    Some(class)
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let tail = || Ipv4Addr::from(ip.to_bits() as u32);
    match segments {
        // IPv4-mapped, and IPv4-translated (`::ffff:0:a.b.c.d`).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(tail()),
        // IPv4-compatible (deprecated, still routed by some stacks): all of `::/96` but `::`
        // and `::1`, which the IPv6 rules name.
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, hi, lo, ..] => {
            let bits = (u32::from(hi) << 16) | u32::from(lo);
            Some(Ipv4Addr::from(bits))
        }
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let first = ip.segments()[0];
    let class = if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if first & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique local, and the deprecated site-local range.
        AddressClass::Private
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // Local-use NAT64 (64:ff9b:1::/48) translates to whatever the local network holds.
        AddressClass::Reserved
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        AddressClass::Documentation
    } else if first == 0x2001 && ip.segments()[1] < 0x0200 || first == 0x0100 {
        // Teredo, ORCHID and other IETF assignments under 2001::/23; discard-only 100::/64.
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// Which non-public targets an installation allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Loopback receivers, for `socialscalr dev` and tests.
    pub allow_loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an absolute http or https URL")]
    NotHttp,
    #[error("must name a host")]
    NoHost,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("points at a {class} address ({ip}), which is not allowed")]
    Refused { ip: IpAddr, class: AddressClass },
}

impl TargetPolicy {
    pub fn check_address(&self, ip: IpAddr) -> Result<(), TargetError> {
        match classify(ip) {
            None => Ok(()),
            Some(AddressClass::Loopback) if self.allow_loopback => Ok(()),
            Some(class) => Err(TargetError::Refused { ip, class }),
        }
    }

    /// Checks what can be known without resolving: scheme, credentials, and a literal
    /// address host. Names are checked again at every delivery, after resolution.
    pub fn check_url(&self, url: &Url) -> Result<(), TargetError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        match url.host() {
            None => Err(TargetError::NoHost),
            Some(Host::Ipv4(ip)) => self.check_address(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_address(IpAddr::V6(ip)),
            Some(Host::Domain(name)) if is_localhost_name(name) && !self.allow_loopback => {
                Err(TargetError::Refused {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    class: AddressClass::Loopback,
                })
            }
            Some(Host::Domain(_)) => Ok(()),
        }
    }
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn public_addresses_pass() {
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert_eq!(classify(ip(text)), None, "{text}");
        }
    }

    #[test]
    fn special_ranges_are_classified() {
        let cases = [
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.0.9", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("100.64.0.1", AddressClass::Shared),
            ("224.0.0.1", AddressClass::Multicast),
            ("0.0.0.0", AddressClass::Unspecified),
            ("255.255.255.255", AddressClass::Broadcast),
            ("240.0.0.1", AddressClass::Reserved),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("fe80::1", AddressClass::LinkLocal),
            ("fd00::1", AddressClass::Private),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
        ];
        for (text, class) in cases {
            assert_eq!(classify(ip(text)), Some(class), "{text}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_classified_as_ipv4() {
        assert_eq!(
            classify(ip("::ffff:127.0.0.1")),
            Some(AddressClass::Loopback)
        );
        assert_eq!(
            classify(ip("::ffff:169.254.169.254")),
            Some(AddressClass::LinkLocal)
        );
        assert_eq!(classify(ip("::10.0.0.1")), Some(AddressClass::Private));
        assert_eq!(classify(ip("64:ff9b::a00:1")), Some(AddressClass::Private));
        assert_eq!(classify(ip("2002:7f00:1::")), Some(AddressClass::Loopback));
        assert_eq!(classify(ip("::ffff:8.8.8.8")), None);
        assert_eq!(
            classify(ip("::ffff:0:127.0.0.1")),
            Some(AddressClass::Loopback)
        );
        assert_eq!(classify(ip("::2")), Some(AddressClass::Unspecified));
        assert_eq!(classify(ip("::ffff")), Some(AddressClass::Unspecified));
        assert_eq!(
            classify(ip("64:ff9b:1::7f00:1")),
            Some(AddressClass::Reserved)
        );
    }

    #[test]
    fn numeric_and_short_ipv4_hosts_are_canonicalised_before_the_check() {
        let policy = TargetPolicy::default();
        for text in [
            "http://2130706433/hook",
            "http://127.1/hook",
            "http://0x7f.1/hook",
            "http://[::ffff:7f00:1]/hook",
            "http://0/hook",
            "http://localhost:8080/hook",
            "http://LOCALHOST./hook",
        ] {
            let url = Url::parse(text).unwrap();
            assert!(
                matches!(policy.check_url(&url), Err(TargetError::Refused { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn loopback_is_allowed_only_when_asked() {
        let url = Url::parse("http://127.0.0.1:9000/hook").unwrap();
        assert!(TargetPolicy::default().check_url(&url).is_err());
        assert!(
            TargetPolicy {
                allow_loopback: true
            }
            .check_url(&url)
            .is_ok()
        );
        let private = Url::parse("http://10.0.0.1/hook").unwrap();
        assert!(
            TargetPolicy {
                allow_loopback: true
            }
            .check_url(&private)
            .is_err()
        );
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        let policy = TargetPolicy::default();
        let check = |text: &str| policy.check_url(&Url::parse(text).unwrap());
        assert_eq!(check("ftp://example.com/"), Err(TargetError::NotHttp));
        assert_eq!(
            check("https://user:pw@example.com/"),
            Err(TargetError::Credentials)
        );
        assert_eq!(check("https://hooks.example.com/in"), Ok(()));
    }
}
