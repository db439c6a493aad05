//! Egress policy: which hosts a connection may reach, and which resolved
//! addresses are refused. Two layers, because a name allow-list alone is not
//! enough: an allowed name can resolve to 127.0.0.1 or a cloud metadata
//! address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One allowed-host pattern: a host — `www.zohoapis.eu`, `*.zohoapis.com`
/// (any subdomain, not the bare domain) or `*` (any host) — and a port:
/// `127.0.0.1:8900`, `[::1]:8900`, `api.example.com:*` (any port). Without
/// a port it allows the scheme's default port only (443 for https), so an
/// allowed name never opens every service on that host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: PortPattern,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    /// The URL scheme's default port.
    Default,
    Exactly(u16),
    Any,
}

impl HostPattern {
    /// Parse a pattern; host names compare case-insensitively.
    pub fn new(pattern: &str) -> HostPattern {
        let text = pattern.trim().to_ascii_lowercase();
        let (host, port) = split_port(&text);
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            // An unparsable port matches nothing rather than everything.
            Some(p) => p
                .parse()
                .map_or(PortPattern::Exactly(0), PortPattern::Exactly),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_string();
        HostPattern { host, port, text }
    }

    /// Whether `host` on `port` matches; `default_port` is the URL
    /// scheme's (443 for https, 80 for http).
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        let port_ok = match self.port {
            PortPattern::Default => port == default_port,
            PortPattern::Exactly(p) => p == port,
            PortPattern::Any => true,
        };
        port_ok && self.matches_host(host)
    }

    /// Whether `host` matches, whatever the port.
    pub fn matches_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match self.host.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => self.host == "*" || self.host == host,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `host:port` → (`host`, `port`); a bracketed IPv6 address keeps its
/// colons, and a bare one (several colons, no brackets) has no port.
fn split_port(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (
                &text[..host.len() + 2],
                tail.strip_prefix(':').filter(|p| !p.is_empty()),
            ),
            None => (text, None),
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (text, None),
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

    /// Whether `host` on `port` is in both lists (`default_port`: the
    /// URL scheme's).
    pub fn allows(&self, host: &str, port: u16, default_port: u16) -> bool {
        let hit = |p: &HostPattern| p.matches(host, port, default_port);
        self.manifest.iter().any(hit) && self.workspace.as_ref().is_none_or(|ws| ws.iter().any(hit))
    }

    /// Explain a refusal: which list lacks the host (or its port).
    pub fn refusal(&self, host: &str, port: u16, default_port: u16) -> String {
        let list = |ps: &[HostPattern]| {
            ps.iter()
                .map(HostPattern::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let shown = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let hit = |p: &HostPattern| p.matches(host, port, default_port);
        let (which, patterns) = if !self.manifest.iter().any(hit) {
            ("the connector's allowed hosts", &self.manifest[..])
        } else {
            (
                "the workspace's allowed hosts for this connection",
                self.workspace.as_deref().unwrap_or_default(),
            )
        };
        let port_hint = if patterns.iter().any(|p| p.matches_host(host)) {
            " (the host is allowed on another port)"
        } else {
            ""
        };
        format!(
            "`{shown}` is not among {which} ({}){port_hint}",
            list(patterns)
        )
    }
}

/// Why an address is refused, if it is.
///
/// The rules follow the IANA special-purpose address registries (IPv4 and
/// IPv6): everything that is not globally reachable unicast is refused, and
/// loopback only passes when `allow_loopback` (a sandbox on this machine).
///
/// IPv6 forms that carry an IPv4 address are judged by the IPv4 address they
/// carry, because that is where the packets end up: IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (deprecated), IPv4-translated
/// `::ffff:0:a.b.c.d` (SIIT), NAT64 `64:ff9b::a.b.c.d` and 6to4
/// `2002:aabb:ccdd::/48`. So `64:ff9b::7f00:1` and `2002:7f00:1::` are
/// loopback, `64:ff9b::a00:1` is private, and so on.
///
/// NAT64 and 6to4 are checked, not refused outright: on an IPv6-only host
/// behind DNS64 every IPv4-only vendor API resolves to `64:ff9b::<public
/// IPv4>`, so refusing the whole prefix would cut such hosts off from the
/// vendors they sync. The well-known prefix may only carry global IPv4
/// addresses (RFC 6052 §3.1), which is exactly what the IPv4 rules let
/// through. The local-use NAT64 prefix `64:ff9b:1::/48` is refused outright:
/// its operator picks where the IPv4 address sits (RFC 8215), so it cannot be
/// read reliably. Teredo `2001::/32` is refused outright too: it is obsolete,
/// no vendor API is reached through it, and the client address it carries is
/// obfuscated.
pub fn blocked_reason(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4, allow_loopback),
        IpAddr::V6(v6) => blocked_v6(v6, allow_loopback),
    }
}

/// Cloud metadata services reachable from inside a VM: AWS, GCP, Azure,
/// OpenStack and others (169.254.169.254), Alibaba (100.100.100.200).
const V4_METADATA: [Ipv4Addr; 2] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
];

/// IPv4 ranges refused besides loopback (IANA IPv4 special-purpose registry,
/// RFC 6890 and successors): network, prefix length, reason.
const V4_BLOCKED: &[(Ipv4Addr, u32, &str)] = &[
    // "This network" (RFC 791), including 0.0.0.0.
    (Ipv4Addr::new(0, 0, 0, 0), 8, "reserved"),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    // Shared address space, carrier-grade NAT (RFC 6598).
    (Ipv4Addr::new(100, 64, 0, 0), 10, "private"),
    // Link-local (RFC 3927).
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    // IETF protocol assignments (RFC 6890): DS-Lite, NAT64 discovery, ...
    (Ipv4Addr::new(192, 0, 0, 0), 24, "reserved"),
    // Documentation, TEST-NET-1 (RFC 5737).
    (Ipv4Addr::new(192, 0, 2, 0), 24, "reserved"),
    // 6to4 relay anycast, deprecated (RFC 7526).
    (Ipv4Addr::new(192, 88, 99, 0), 24, "reserved"),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    // Benchmarking (RFC 2544).
    (Ipv4Addr::new(198, 18, 0, 0), 15, "reserved"),
    // Documentation, TEST-NET-2 (RFC 5737).
    (Ipv4Addr::new(198, 51, 100, 0), 24, "reserved"),
    // Documentation, TEST-NET-3 (RFC 5737).
    (Ipv4Addr::new(203, 0, 113, 0), 24, "reserved"),
    // Multicast (RFC 5771).
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    // Reserved for future use (RFC 1112), including the limited broadcast
    // address 255.255.255.255 (RFC 919).
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

fn blocked_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    // Loopback, 127.0.0.0/8 (RFC 1122).
    if ip.is_loopback() {
        return (!allow_loopback).then_some("loopback");
    }
    if V4_METADATA.contains(&ip) {
        return Some("cloud metadata");
    }
    V4_BLOCKED
        .iter()
        .find(|(net, len, _)| in_v4(ip, *net, *len))
        .map(|(_, _, reason)| *reason)
}

/// Cloud metadata over IPv6: AWS (fd00:ec2::254).
const V6_METADATA: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// IPv6 ranges refused (IANA IPv6 special-purpose registry and RFC 4291):
/// network, prefix length, reason. Forms that carry an IPv4 address are
/// handled before this table (see [`embedded_v4`]); anything outside global
/// unicast `2000::/3` is refused after it.
const V6_BLOCKED: &[(Ipv6Addr, u32, &str)] = &[
    // Local-use IPv4/IPv6 translation (RFC 8215): the IPv4 address's place
    // is the operator's choice, so it cannot be checked.
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "reserved",
    ),
    // Discard-only (RFC 6666).
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "reserved"),
    // Dummy prefix (RFC 9780).
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "reserved"),
    // Teredo (RFC 4380): obsolete tunnelling to an obfuscated IPv4 client.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "reserved"),
    // Benchmarking (RFC 5180).
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, "reserved"),
    // ORCHID, deprecated (RFC 4843).
    (
        Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0),
        28,
        "reserved",
    ),
    // ORCHIDv2 (RFC 7343).
    (
        Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0),
        28,
        "reserved",
    ),
    // Documentation (RFC 3849).
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "reserved",
    ),
    // Documentation (RFC 9637).
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "reserved"),
    // Segment routing SIDs (RFC 9602).
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "reserved"),
    // Unique-local (RFC 4193).
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "private"),
    // Link-local unicast (RFC 4291).
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    // Site-local, deprecated (RFC 3879) but still routed inside some sites.
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "private"),
    // Multicast (RFC 4291).
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

/// The IPv4 address an IPv6 address carries, for the forms whose packets
/// end up at that IPv4 address: IPv4-mapped `::ffff:0:0/96` (RFC 4291),
/// IPv4-compatible `::/96` (deprecated, RFC 4291), IPv4-translated
/// `::ffff:0:0:0/96` (RFC 2765), NAT64 `64:ff9b::/96` (RFC 6052; last 32
/// bits) and 6to4 `2002::/16` (RFC 3056; bits 16..48).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = ip.to_bits();
    let last32 = Ipv4Addr::from_bits(bits as u32);
    let high96 = bits >> 32;
    match high96 {
        // IPv4-compatible (`::` and `::1` are handled before).
        0 => Some(last32),
        // IPv4-mapped.
        0xffff => Some(last32),
        // IPv4-translated.
        0xffff_0000 => Some(last32),
        // NAT64 well-known prefix.
        _ if high96 == 0x0064_ff9b_0000_0000_0000_0000 => Some(last32),
        // 6to4.
        _ if bits >> 112 == 0x2002 => Some(Ipv4Addr::from_bits((bits >> 80) as u32)),
        _ => None,
    }
}

fn blocked_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    if ip.is_loopback() {
        return (!allow_loopback).then_some("loopback");
    }
    if ip.is_unspecified() {
        return Some("reserved");
    }
    if let Some(v4) = embedded_v4(ip) {
        return blocked_v4(v4, allow_loopback);
    }
    if V6_METADATA.contains(&ip) {
        return Some("cloud metadata");
    }
    if let Some((_, _, reason)) = V6_BLOCKED
        .iter()
        .find(|(net, len, _)| in_v6(ip, *net, *len))
    {
        return Some(reason);
    }
    // Only 2000::/3 is allocated for global unicast; the rest of the space
    // (other than the ranges above) is reserved by the IETF and unrouted.
    if !in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
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
        let m = |p: &str, h: &str| HostPattern::new(p).matches(h, 443, 443);
        assert!(m("*.zohoapis.com", "www.zohoapis.com"));
        assert!(m("*.zohoapis.com", "WWW.ZOHOAPIS.COM."));
        assert!(!m("*.zohoapis.com", "zohoapis.com"));
        assert!(!m("*.zohoapis.com", "evilzohoapis.com"));
        assert!(!m("*.zohoapis.com", "www.zohoapis.com.evil.net"));
        assert!(m("accounts.zoho.eu", "accounts.zoho.eu"));
        assert!(!m("accounts.zoho.eu", "accounts.zoho.com"));
        assert!(m("*", "anything.example"));
    }

    #[test]
    fn patterns_include_the_port() {
        // (pattern, host, port, scheme's default port, allowed)
        let table: &[(&str, &str, u16, u16, bool)] = &[
            ("www.zohoapis.com", "www.zohoapis.com", 443, 443, true),
            ("www.zohoapis.com", "www.zohoapis.com", 8443, 443, false),
            ("*.zohoapis.com", "www.zohoapis.com", 22, 443, false),
            ("*", "example.com", 6379, 443, false),
            ("*:*", "example.com", 6379, 443, true),
            ("127.0.0.1:8900", "127.0.0.1", 8900, 80, true),
            ("127.0.0.1:8900", "127.0.0.1", 8901, 80, false),
            ("127.0.0.1:8900", "127.0.0.1", 80, 80, false),
            ("127.0.0.1", "127.0.0.1", 80, 80, true),
            ("api.example.com:*", "api.example.com", 9000, 443, true),
            ("[::1]:8900", "[::1]", 8900, 80, true),
            ("[::1]:8900", "::1", 8901, 80, false),
            ("[::1]", "::1", 80, 80, true),
            ("host:notaport", "host", 0, 443, true),
            ("host:notaport", "host", 443, 443, false),
        ];
        for (pattern, host, port, default, allowed) in table {
            assert_eq!(
                HostPattern::new(pattern).matches(host, *port, *default),
                *allowed,
                "{pattern} vs {host}:{port}"
            );
        }
    }

    #[test]
    fn allowed_hosts_are_the_intersection() {
        let manifest = vec![
            HostPattern::new("*.zohoapis.com"),
            HostPattern::new("accounts.zoho.com"),
        ];
        let any = AllowedHosts::new(manifest.clone(), None);
        assert!(any.allows("www.zohoapis.com", 443, 443));
        assert!(!any.allows("example.com", 443, 443));
        let narrowed =
            AllowedHosts::new(manifest, Some(vec![HostPattern::new("www.zohoapis.com")]));
        assert!(narrowed.allows("www.zohoapis.com", 443, 443));
        assert!(!narrowed.allows("accounts.zoho.com", 443, 443));
        assert!(
            narrowed
                .refusal("accounts.zoho.com", 443, 443)
                .contains("workspace")
        );
        assert!(
            narrowed
                .refusal("example.com", 443, 443)
                .contains("connector")
        );
        let local = AllowedHosts::new(vec![HostPattern::new("127.0.0.1:8900")], None);
        let why = local.refusal("127.0.0.1", 8901, 80);
        assert!(
            why.contains("`127.0.0.1:8901`") && why.contains("another port"),
            "{why}"
        );
    }

    #[test]
    fn internal_addresses_are_blocked() {
        // (address, allow_loopback, expected reason)
        let table: &[(&str, bool, Option<&str>)] = &[
            // IPv4 loopback, only with allow_loopback.
            ("127.0.0.1", false, Some("loopback")),
            ("127.0.0.1", true, None),
            ("127.255.255.254", false, Some("loopback")),
            // IPv4 special-purpose registry.
            ("0.0.0.0", false, Some("reserved")),
            ("0.1.2.3", true, Some("reserved")),
            ("10.1.2.3", false, Some("private")),
            ("100.64.0.1", false, Some("private")),
            ("100.127.255.255", false, Some("private")),
            ("100.128.0.1", false, None),
            ("169.254.169.254", true, Some("cloud metadata")),
            ("100.100.100.200", true, Some("cloud metadata")),
            ("169.254.1.1", false, Some("link-local")),
            ("172.16.0.1", false, Some("private")),
            ("172.31.255.255", false, Some("private")),
            ("172.32.0.1", false, None),
            ("192.0.0.1", false, Some("reserved")),
            ("192.0.0.170", true, Some("reserved")),
            ("192.0.2.1", false, Some("reserved")),
            ("192.88.99.1", false, Some("reserved")),
            ("192.168.0.1", false, Some("private")),
            ("198.18.0.1", false, Some("reserved")),
            ("198.19.255.255", false, Some("reserved")),
            ("198.20.0.1", false, None),
            ("198.51.100.7", false, Some("reserved")),
            ("203.0.113.9", false, Some("reserved")),
            ("224.0.0.1", false, Some("multicast")),
            ("239.255.255.250", false, Some("multicast")),
            ("240.0.0.1", false, Some("reserved")),
            ("255.255.255.255", true, Some("reserved")),
            ("8.8.8.8", false, None),
            ("1.1.1.1", true, None),
            // IPv6 loopback and unspecified.
            ("::1", false, Some("loopback")),
            ("::1", true, None),
            ("::", true, Some("reserved")),
            // IPv4-mapped: judged as the IPv4 address.
            ("::ffff:127.0.0.1", false, Some("loopback")),
            ("::ffff:127.0.0.1", true, None),
            ("::ffff:10.0.0.1", true, Some("private")),
            ("::ffff:169.254.169.254", true, Some("cloud metadata")),
            ("::ffff:192.0.2.1", false, Some("reserved")),
            ("::ffff:8.8.8.8", false, None),
            // IPv4-compatible (deprecated).
            ("::127.0.0.1", false, Some("loopback")),
            ("::127.0.0.1", true, None),
            ("::10.0.0.1", false, Some("private")),
            ("::169.254.169.254", false, Some("cloud metadata")),
            ("::2", false, Some("reserved")),
            ("::8.8.8.8", false, None),
            // IPv4-translated (SIIT).
            ("::ffff:0:127.0.0.1", false, Some("loopback")),
            ("::ffff:0:192.168.1.1", false, Some("private")),
            ("::ffff:0:8.8.8.8", false, None),
            // NAT64 well-known prefix: checked by the IPv4 it carries.
            ("64:ff9b::7f00:1", false, Some("loopback")),
            ("64:ff9b::7f00:1", true, None),
            ("64:ff9b::127.0.0.1", false, Some("loopback")),
            ("64:ff9b::10.0.0.1", true, Some("private")),
            ("64:ff9b::169.254.169.254", true, Some("cloud metadata")),
            ("64:ff9b::192.168.0.1", false, Some("private")),
            ("64:ff9b::100.64.0.1", false, Some("private")),
            ("64:ff9b::8.8.8.8", false, None),
            // NAT64 local-use prefix: refused outright.
            ("64:ff9b:1::8.8.8.8", false, Some("reserved")),
            ("64:ff9b:1:ffff::1", false, Some("reserved")),
            // 6to4: the IPv4 address is bits 16..48.
            ("2002:7f00:1::", false, Some("loopback")),
            ("2002:7f00:1::", true, None),
            ("2002:a00:1::1", true, Some("private")),
            ("2002:c0a8:101::", false, Some("private")),
            ("2002:a9fe:a9fe::1", true, Some("cloud metadata")),
            ("2002:c000:201::", false, Some("reserved")),
            ("2002::", false, Some("reserved")),
            ("2002:808:808::1", false, None),
            // Teredo: refused outright, whatever it carries.
            ("2001::1", false, Some("reserved")),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                false,
                Some("reserved"),
            ),
            // Other IPv6 special-purpose ranges.
            ("100::1", false, Some("reserved")),
            ("100::ffff:ffff:ffff:ffff", false, Some("reserved")),
            ("100:0:0:1::1", false, Some("reserved")),
            ("2001:2::1", false, Some("reserved")),
            ("2001:2:0:ffff::1", false, Some("reserved")),
            ("2001:10::1", false, Some("reserved")),
            ("2001:20::1", false, Some("reserved")),
            ("2001:2f:ffff::1", false, Some("reserved")),
            ("2001:db8::1", false, Some("reserved")),
            ("2001:db8:ffff::1", true, Some("reserved")),
            ("3fff::1", false, Some("reserved")),
            ("3fff:fff::1", false, Some("reserved")),
            ("3fff:1000::1", false, None),
            ("5f00::1", false, Some("reserved")),
            ("fc00::1", false, Some("private")),
            ("fd12::1", false, Some("private")),
            ("fd00:ec2::254", true, Some("cloud metadata")),
            ("fe80::1", false, Some("link-local")),
            ("febf::1", false, Some("link-local")),
            ("fec0::1", false, Some("private")),
            ("feff::1", false, Some("private")),
            ("ff02::1", false, Some("multicast")),
            ("ff0e::1", true, Some("multicast")),
            // Unallocated space outside global unicast 2000::/3.
            ("4000::1", false, Some("reserved")),
            ("1::1", false, Some("reserved")),
            ("e000::1", false, Some("reserved")),
            // Global unicast passes, including neighbours of the ranges above.
            ("2606:4700::1111", false, None),
            ("2a00:1450:4001::200e", false, None),
            ("2001:4860:4860::8888", false, None),
            ("2001:1::1", false, None),
            ("2001:3::1", false, None),
            ("2001:db9::1", false, None),
            ("2003::1", false, None),
        ];
        for (addr, allow_loopback, expected) in table {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(
                blocked_reason(ip, *allow_loopback),
                *expected,
                "{addr} (allow_loopback: {allow_loopback})"
            );
        }
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("www.zohoapis.com"));
    }
}
