//! Egress policy: which hosts a connection may reach, and which resolved
//! addresses are refused. Two layers, because a name allow-list alone is not
//! enough: an allowed name can resolve to 127.0.0.1 or a cloud metadata
//! address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One allowed-host pattern: `www.zohoapis.eu`, `*.zohoapis.com` (any
/// subdomain, not the bare domain) or `*` (any host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    /// Parse a pattern; host names compare case-insensitively.
    pub fn new(pattern: &str) -> HostPattern {
        HostPattern(pattern.trim().trim_end_matches('.').to_ascii_lowercase())
    }

    /// Whether `host` matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match self.0.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => self.0 == "*" || self.0 == host,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Allowed hosts of one connection: the connector manifest's hosts
/// intersected with the workspace's (when the workspace narrows them).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    manifest: Vec<HostPattern>,
    workspace: Option<Vec<HostPattern>>,
}

impl AllowedHosts {
    /// `manifest`: what the connector may ever reach; `workspace`: what the
    /// operator allows for this connection (`None`: no narrowing).
    pub fn new(manifest: Vec<HostPattern>, workspace: Option<Vec<HostPattern>>) -> AllowedHosts {
        AllowedHosts {
            manifest,
            workspace,
        }
    }

    /// Whether `host` is in both lists.
    pub fn allows(&self, host: &str) -> bool {
        self.manifest.iter().any(|p| p.matches(host))
            && self
                .workspace
                .as_ref()
                .is_none_or(|ws| ws.iter().any(|p| p.matches(host)))
    }

    /// Explain a refusal: which list lacks the host.
    pub fn refusal(&self, host: &str) -> String {
        let list = |ps: &[HostPattern]| {
            ps.iter()
                .map(HostPattern::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.manifest.iter().any(|p| p.matches(host)) {
            format!(
                "host `{host}` is not among the connector's allowed hosts ({})",
                list(&self.manifest)
            )
        } else {
            format!(
                "host `{host}` is not among the workspace's allowed hosts for this connection ({})",
                list(self.workspace.as_deref().unwrap_or_default())
            )
        }
    }
}

/// Why an address is refused, if it is.
pub fn blocked_reason(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4, allow_loopback),
        IpAddr::V6(v6) => blocked_v6(v6, allow_loopback),
    }
}

fn blocked_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        return (!allow_loopback).then_some("loopback");
    }
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        return Some("cloud metadata");
    }
    if ip.is_link_local() {
        return Some("link-local");
    }
    if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        return Some("private");
    }
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 || a >= 240 {
        return Some("reserved");
    }
    None
}

fn blocked_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        return (!allow_loopback).then_some("loopback");
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("cloud metadata");
    }
    if (first & 0xffc0) == 0xfe80 {
        return Some("link-local");
    }
    if (first & 0xfe00) == 0xfc00 {
        return Some("private");
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("reserved");
    }
    None
}

/// Whether a URL host names this machine (a connection whose base URL is
/// local, such as the Zoho sandbox, may reach loopback).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_and_subdomains() {
        let p = HostPattern::new("*.zohoapis.com");
        assert!(p.matches("www.zohoapis.com"));
        assert!(p.matches("WWW.ZOHOAPIS.COM."));
        assert!(!p.matches("zohoapis.com"));
        assert!(!p.matches("evilzohoapis.com"));
        assert!(!p.matches("www.zohoapis.com.evil.net"));
        assert!(HostPattern::new("accounts.zoho.eu").matches("accounts.zoho.eu"));
        assert!(!HostPattern::new("accounts.zoho.eu").matches("accounts.zoho.com"));
        assert!(HostPattern::new("*").matches("anything.example"));
    }

    #[test]
    fn allowed_hosts_are_the_intersection() {
        let manifest = vec![
            HostPattern::new("*.zohoapis.com"),
            HostPattern::new("accounts.zoho.com"),
        ];
        let any = AllowedHosts::new(manifest.clone(), None);
        assert!(any.allows("www.zohoapis.com"));
        assert!(!any.allows("example.com"));
        let narrowed =
            AllowedHosts::new(manifest, Some(vec![HostPattern::new("www.zohoapis.com")]));
        assert!(narrowed.allows("www.zohoapis.com"));
        assert!(!narrowed.allows("accounts.zoho.com"));
        assert!(narrowed.refusal("accounts.zoho.com").contains("workspace"));
        assert!(narrowed.refusal("example.com").contains("connector"));
    }

    #[test]
    fn internal_addresses_are_blocked() {
        let blocked = |s: &str, lo| blocked_reason(s.parse().unwrap(), lo);
        assert_eq!(blocked("127.0.0.1", false), Some("loopback"));
        assert_eq!(blocked("127.0.0.1", true), None);
        assert_eq!(blocked("::1", false), Some("loopback"));
        assert_eq!(blocked("::ffff:127.0.0.1", false), Some("loopback"));
        assert_eq!(blocked("169.254.169.254", true), Some("cloud metadata"));
        assert_eq!(blocked("fd00:ec2::254", true), Some("cloud metadata"));
        assert_eq!(blocked("169.254.1.1", false), Some("link-local"));
        assert_eq!(blocked("fe80::1", false), Some("link-local"));
        assert_eq!(blocked("10.1.2.3", false), Some("private"));
        assert_eq!(blocked("192.168.0.1", false), Some("private"));
        assert_eq!(blocked("172.16.0.1", false), Some("private"));
        assert_eq!(blocked("100.64.0.1", false), Some("private"));
        assert_eq!(blocked("fd12::1", false), Some("private"));
        assert_eq!(blocked("0.0.0.0", false), Some("reserved"));
        assert_eq!(blocked("8.8.8.8", false), None);
        assert_eq!(blocked("2606:4700::1111", false), None);
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("www.zohoapis.com"));
    }
}
