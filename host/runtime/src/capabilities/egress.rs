//! The egress policy: which URLs a connector instance may reach.
//!
//! Threat: a connector (buggy or hostile) turns the host into an SSRF proxy —
//! reaching cloud metadata (169.254.169.254), the host's own services on
//! loopback, or the private network — or leaks credentials to an attacker's
//! server. Decisions, all fail-closed:
//! - Only origins the operator configured (the component's `egress` URL
//!   fields, after defaults) are allowed: scheme, host and port must match.
//! - HTTPS only. Plain HTTP is accepted only for a loopback origin the
//!   operator configured explicitly (a local simulator or proxy).
//! - Every address a name resolves to, and every literal IP, is checked
//!   against private, loopback, link-local, metadata and other special ranges
//!   (IPv4-mapped, NAT64 and 6to4 IPv6 forms canonicalised first), unless the
//!   configured origin itself is loopback, which then may reach loopback only.
//! - Redirects are never followed (see `http`), so each hop is a new request
//!   that passes through this check.
//!
//! These functions only decide; they never connect. Tests call them directly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// One origin the operator allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The configured host is loopback: it may reach loopback, and only that.
    pub loopback: bool,
}

/// The checked destination of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub port: u16,
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("malformed URL: {0}")]
    Malformed(String),
    #[error("scheme {0:?} is not allowed (HTTPS only; HTTP only to a configured loopback origin)")]
    Scheme(String),
    #[error("host {0} is not in this connector's egress allowlist")]
    HostNotAllowed(String),
    #[error("address {addr} of {host} is in a blocked range ({range})")]
    BlockedAddress {
        host: String,
        addr: IpAddr,
        range: &'static str,
    },
    #[error("{0} did not resolve to any address")]
    NoAddress(String),
}

/// The allowlist of one connector instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allowed: Vec<AllowedOrigin>,
}

impl EgressPolicy {
    /// Builds the allowlist from operator-configured URLs. Refuses plain HTTP
    /// to anything but loopback, so a typo cannot downgrade TLS.
    pub fn from_urls<'a>(urls: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for raw in urls {
            let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a valid URL: {e}"))?;
            let (host, loopback) = host_of(&url).ok_or_else(|| format!("{raw:?} has no host"))?;
            match url.scheme() {
                "https" => {}
                "http" if loopback => {}
                "http" => {
                    return Err(format!(
                        "{raw:?} uses plain HTTP; only HTTPS is allowed except to loopback"
                    ));
                }
                other => return Err(format!("{raw:?} has unsupported scheme {other:?}")),
            }
            let origin = AllowedOrigin {
                scheme: url.scheme().to_string(),
                port: url.port_or_known_default().unwrap_or(443),
                host,
                loopback,
            };
            if !allowed.contains(&origin) {
                allowed.push(origin);
            }
        }
        Ok(Self { allowed })
    }

    pub fn origins(&self) -> &[AllowedOrigin] {
        &self.allowed
    }

    /// Decides on a URL before any DNS lookup: scheme, allowlist, literal IPs.
    pub fn check_url(&self, raw: &str) -> Result<Target, Denial> {
        let url = Url::parse(raw).map_err(|e| Denial::Malformed(e.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Denial::Scheme(url.scheme().to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Denial::Malformed(
                "credentials in the URL are not allowed".into(),
            ));
        }
        let (host, _) = host_of(&url).ok_or_else(|| Denial::Malformed("no host".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Denial::Malformed("no port".into()))?;
        let origin = self
            .allowed
            .iter()
            .find(|o| o.host == host && o.port == port && o.scheme == url.scheme());
        // A literal IP is never resolved, so check it here, and before the
        // allowlist: a request to 169.254.169.254 or to a mapped loopback
        // address is refused for its range, which is the rule that matters.
        if let Some(ip) = literal_ip(&url) {
            check_address(&host, ip, origin.is_some_and(|o| o.loopback))?;
        }
        if origin.is_none() {
            if url.scheme() == "http" {
                return Err(Denial::Scheme("http".into()));
            }
            return Err(Denial::HostNotAllowed(format!("{host}:{port}")));
        }
        Ok(Target { url, host, port })
    }

    /// Whether `host` (as the resolver sees it) is allowed and loopback-only.
    pub fn host_rule(&self, host: &str) -> Option<bool> {
        let host = normalise_name(host);
        self.allowed
            .iter()
            .find(|o| o.host == host)
            .map(|o| o.loopback)
    }

    /// Filters resolved addresses; an allowed name that resolves only to
    /// blocked addresses is refused (DNS rebinding to metadata, for example).
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, Denial> {
        let Some(loopback) = self.host_rule(host) else {
            return Err(Denial::HostNotAllowed(host.to_string()));
        };
        if addrs.is_empty() {
            return Err(Denial::NoAddress(host.to_string()));
        }
        let ok: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|&a| check_address(host, a, loopback).is_ok())
            .collect();
        match addrs
            .iter()
            .find_map(|&a| check_address(host, a, loopback).err())
        {
            Some(first_denial) if ok.is_empty() => Err(first_denial),
            _ => Ok(ok),
        }
    }
}

fn normalise_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The host as compared in the allowlist, and whether it is loopback.
fn host_of(url: &Url) -> Option<(String, bool)> {
    match url.host()? {
        Host::Domain(d) => {
            let name = normalise_name(d);
            let loopback = name == "localhost" || name.ends_with(".localhost");
            Some((name, loopback))
        }
        Host::Ipv4(ip) => Some((ip.to_string(), ip.is_loopback())),
        Host::Ipv6(ip) => {
            let canon = canonical(IpAddr::V6(ip));
            Some((format!("[{ip}]"), canon.is_loopback()))
        }
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// Unwraps IPv4 addresses carried inside IPv6 forms, so `::ffff:127.0.0.1`
/// is judged as `127.0.0.1`.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // The IPv4 address in two 16-bit segments.
            let v4 = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from((hi as u32) << 16 | lo as u32));
            // NAT64 well-known prefix 64:ff9b::/96 embeds an IPv4 address.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return v4(s[6], s[7]);
            }
            // 6to4 2002::/16 embeds an IPv4 address in bits 16..48.
            if s[0] == 0x2002 {
                return v4(s[1], s[2]);
            }
            // Deprecated IPv4-compatible ::a.b.c.d (but not :: or ::1).
            if s[0..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
                return v4(s[6], s[7]);
            }
            addr
        }
    }
}

/// Names the special range an address falls in, if any.
pub fn blocked_range(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let r = match o {
        [169, 254, 169, 254] => "cloud metadata",
        [0, ..] => "this-network 0.0.0.0/8",
        [10, ..] => "private 10.0.0.0/8",
        [100, b, ..] if (64..128).contains(&b) => "shared address space 100.64.0.0/10",
        [127, ..] => "loopback 127.0.0.0/8",
        [169, 254, ..] => "link-local 169.254.0.0/16",
        [172, b, ..] if (16..32).contains(&b) => "private 172.16.0.0/12",
        [192, 0, 0, _] => "IETF protocol assignments 192.0.0.0/24",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 168, ..] => "private 192.168.0.0/16",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking 198.18.0.0/15",
        [a, ..] if a >= 224 => "multicast or reserved",
        _ => return None,
    };
    Some(r)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let r = if ip.is_unspecified() {
        "unspecified ::"
    } else if ip.is_loopback() {
        "loopback ::1"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "unique local fc00::/7"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local fe80::/10"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local fec0::/10"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast ff00::/8"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation 2001:db8::/32"
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        "discard 100::/64"
    } else {
        return None;
    };
    Some(r)
}

/// Allows a resolved or literal address for a host of the given kind.
fn check_address(host: &str, addr: IpAddr, loopback_origin: bool) -> Result<(), Denial> {
    let canon = canonical(addr);
    if loopback_origin {
        // A configured loopback origin (a local simulator) may reach loopback
        // and nothing else: a name like `localhost` must not be rebound away.
        if canon.is_loopback() {
            return Ok(());
        }
        return Err(Denial::BlockedAddress {
            host: host.to_string(),
            addr,
            range: "not loopback, but the configured origin is loopback",
        });
    }
    match blocked_range(canon) {
        None => Ok(()),
        Some(range) => Err(Denial::BlockedAddress {
            host: host.to_string(),
            addr,
            range,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pingone() -> EgressPolicy {
        EgressPolicy::from_urls(["https://api.pingone.com", "https://auth.pingone.com"]).unwrap()
    }

    #[test]
    fn allows_only_configured_https_origins() {
        let p = pingone();
        assert!(
            p.check_url("https://api.pingone.com/v1/environments/x/users")
                .is_ok()
        );
        assert!(p.check_url("https://API.PingOne.com./v1").is_ok());
        assert_eq!(
            p.check_url("https://evil.example/v1"),
            Err(Denial::HostNotAllowed("evil.example:443".into()))
        );
        assert_eq!(
            p.check_url("https://api.pingone.com:8443/v1"),
            Err(Denial::HostNotAllowed("api.pingone.com:8443".into()))
        );
        assert_eq!(
            p.check_url("http://api.pingone.com/v1"),
            Err(Denial::Scheme("http".into()))
        );
        assert!(matches!(
            p.check_url("file:///etc/passwd"),
            Err(Denial::Scheme(_))
        ));
        assert!(matches!(
            p.check_url("https://user:pw@api.pingone.com/"),
            Err(Denial::Malformed(_))
        ));
    }

    #[test]
    fn plain_http_is_configurable_only_for_loopback() {
        assert!(EgressPolicy::from_urls(["http://127.0.0.1:8080"]).is_ok());
        assert!(EgressPolicy::from_urls(["http://localhost:8080"]).is_ok());
        assert!(EgressPolicy::from_urls(["http://[::1]:8080"]).is_ok());
        let err = EgressPolicy::from_urls(["http://api.pingone.com"]).unwrap_err();
        assert!(err.contains("plain HTTP"), "{err}");
        assert!(EgressPolicy::from_urls(["ftp://x"]).is_err());
    }

    #[test]
    fn metadata_and_private_literals_are_refused() {
        // Even if an operator allowlisted them, special ranges stay closed.
        let p = EgressPolicy::from_urls([
            "https://169.254.169.254",
            "https://10.1.2.3",
            "https://[::ffff:169.254.169.254]",
        ])
        .unwrap();
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/",
            "https://[::ffff:169.254.169.254]/",
        ] {
            assert!(
                matches!(p.check_url(url), Err(Denial::BlockedAddress { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn special_range_literals_are_named_even_when_not_allowlisted() {
        // The denial names the range, not merely the scheme or allowlist.
        let p = pingone();
        for (url, range) in [
            ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
            ("https://169.254.169.254/", "cloud metadata"),
            ("http://[::ffff:127.0.0.1]:8080/", "loopback 127.0.0.0/8"),
            ("https://10.0.0.1/", "private 10.0.0.0/8"),
        ] {
            match p.check_url(url) {
                Err(Denial::BlockedAddress { range: r, .. }) => assert_eq!(r, range, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn mapped_loopback_is_not_loopback_unless_configured() {
        let p = pingone();
        assert!(p.check_url("http://[::ffff:127.0.0.1]:8080/").is_err());
        assert!(p.check_url("https://[::ffff:127.0.0.1]/").is_err());
        assert_eq!(
            canonical("::ffff:127.0.0.1".parse().unwrap()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        // Configured explicitly as loopback, the mapped form is judged loopback.
        let local = EgressPolicy::from_urls(["http://[::ffff:127.0.0.1]:8080"]).unwrap();
        assert!(local.check_url("http://[::ffff:127.0.0.1]:8080/v1").is_ok());
    }

    #[test]
    fn resolved_addresses_are_checked() {
        let p = pingone();
        let public: IpAddr = "104.18.1.1".parse().unwrap();
        let meta: IpAddr = "169.254.169.254".parse().unwrap();
        assert_eq!(
            p.check_resolved("api.pingone.com", &[meta, public])
                .unwrap(),
            vec![public]
        );
        assert!(matches!(
            p.check_resolved("api.pingone.com", &[meta]),
            Err(Denial::BlockedAddress {
                range: "cloud metadata",
                ..
            })
        ));
        for bad in [
            "10.0.0.1",
            "192.168.1.1",
            "172.20.0.1",
            "127.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            let addr: IpAddr = bad.parse().unwrap();
            assert!(
                p.check_resolved("api.pingone.com", &[addr]).is_err(),
                "{bad} should be blocked"
            );
        }
        assert!(p.check_resolved("evil.example", &[public]).is_err());
        assert!(matches!(
            p.check_resolved("api.pingone.com", &[]),
            Err(Denial::NoAddress(_))
        ));
    }

    #[test]
    fn loopback_origin_reaches_loopback_only() {
        let p = EgressPolicy::from_urls(["http://localhost:9000"]).unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "104.18.1.1".parse().unwrap();
        assert_eq!(p.check_resolved("localhost", &[lo]).unwrap(), vec![lo]);
        assert!(p.check_resolved("localhost", &[public]).is_err());
    }
}
