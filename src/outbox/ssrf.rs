//! Which hosts a webhook may reach (server-side request forgery): an agency names the callback
//! URL, so without a rule it could make the platform `POST` to its own network (a database's
//! HTTP port, the cloud metadata service at 169.254.169.254, an admin page on loopback).
//!
//! The rule, checked twice:
//! - **when the URL is given** ([`check_host`], from `parse_callback`): an IP-literal host must be
//!   globally routable ([`is_global`]); a name must not be `localhost`, `*.localhost`,
//!   `*.internal`, `*.local`, `*.localdomain`, `*.home.arpa` or a single label (which a resolver
//!   completes with its search domains, i.e. inside the network);
//! - **when it is delivered** ([`PublicOnly`], the outbox client's DNS resolver): the name is
//!   resolved again and the connection refused if *any* address is not global, so a name that
//!   resolved to a public address when it was given cannot later point inside (DNS rebinding).
//!   The client connects only to the addresses this resolver returned.
//!
//! The one exception: with `CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK` (tests and the demo), the
//! loopback addresses themselves (`127.0.0.0/8`, `::1`) and the name `localhost` are allowed;
//! their IPv4-mapped forms (`::ffff:127.0.0.1`) are not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether an IPv4 address is globally routable: not "this network" (0/8, incl. the
/// unspecified address), private (10/8, 172.16/12, 192.168/16), shared CGNAT (100.64/10),
/// loopback (127/8), link-local (169.254/16, where cloud metadata lives), IETF protocol
/// assignments (192.0.0/24), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24), the
/// deprecated 6to4 relay (192.88.99/24), benchmarking (198.18/15), multicast (224/4), reserved
/// (240/4) or broadcast (255.255.255.255).
pub fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0
        || a == 10
        || (a == 100 && (64..128).contains(&b))
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224;
    !special
}

/// The IPv4 address an IPv6 address stands for, for the forms that carry one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated; this also covers `::` and
/// `::1`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    };
    if s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff) {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        let [hi, lo] = s[1].to_be_bytes();
        let [hi2, lo2] = s[2].to_be_bytes();
        return Some(Ipv4Addr::new(hi, lo, hi2, lo2));
    }
    None
}

/// Whether an IPv6 address is globally routable. An allow-list: a form that carries an IPv4
/// address is judged by that address; otherwise only global unicast (`2000::/3`) passes, less
/// the IETF protocol assignments (`2001::/23`, incl. Teredo), documentation (`2001:db8::/32`,
/// `3fff::/20`). Everything else — unspecified, loopback, unique-local `fc00::/7`, link-local
/// `fe80::/10`, site-local, multicast `ff00::/8`, discard `100::/64`, local NAT64 — is refused.
pub fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    let global_unicast = s[0] & 0xe000 == 0x2000;
    // 2001::/23 (IETF protocol assignments), 2001:db8::/32 and 3fff::/20 (documentation).
    let special =
        (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || (s[0] == 0x3fff && s[1] < 0x1000);
    global_unicast && !special
}

pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

/// The loopback addresses the development exception allows (not their mapped forms).
fn plain_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// Whether a webhook may connect to `ip`.
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_global(ip) || (allow_loopback && plain_loopback(ip))
}

/// Whether `name` is `localhost` (any case, with or without the final dot).
pub fn is_localhost(name: &str) -> bool {
    name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
}

/// Names that only mean something inside a network.
const INTERNAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".internal",
    ".local",
    ".localdomain",
    ".home.arpa",
];

fn internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !name.contains('.')
        || INTERNAL_SUFFIXES
            .iter()
            .any(|suffix| name.ends_with(suffix) || name == suffix[1..])
}

/// Checks a callback URL's host; the error says why in a phrase that fits after
/// "callback URL: ".
pub fn check_host(host: url::Host<&str>, allow_loopback: bool) -> Result<(), &'static str> {
    match host {
        url::Host::Ipv4(ip) if !allowed(IpAddr::V4(ip), allow_loopback) => Err(NOT_PUBLIC_IP),
        url::Host::Ipv6(ip) if !allowed(IpAddr::V6(ip), allow_loopback) => Err(NOT_PUBLIC_IP),
        url::Host::Domain(name) if allow_loopback && is_localhost(name) => Ok(()),
        url::Host::Domain(name) if internal_name(name) => Err(NOT_PUBLIC_NAME),
        _ => Ok(()),
    }
}

const NOT_PUBLIC_IP: &str = "the host must be a public internet address, not a private, \
                             loopback, link-local, shared, multicast or reserved one";
const NOT_PUBLIC_NAME: &str = "the host must be a public domain name, not localhost, \
                               a single label or an internal name (.internal, .local, …)";

/// A delivery refused because the callback's name resolved to an address that is not public.
#[derive(Debug)]
pub struct Refused {
    /// The first refused address (not the name: it stays out of the log like the URL).
    pub address: IpAddr,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused: the callback host resolves to {}, which is not a public internet address",
            self.address
        )
    }
}

impl std::error::Error for Refused {}

/// Keeps the resolved addresses if every one may be reached; refuses them all otherwise (a
/// name with one private address among public ones is a rebinding attempt, not a mistake).
pub fn screen(
    addrs: impl IntoIterator<Item = SocketAddr>,
    allow_loopback: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
    match addrs.iter().find(|a| !allowed(a.ip(), allow_loopback)) {
        Some(bad) => Err(Refused { address: bad.ip() }),
        None => Ok(addrs),
    }
}

/// The outbox client's DNS resolver: the system resolver, then [`screen`].
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    pub allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs = screen(found, allow_loopback)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The [`Refused`] behind a failed request, if that is why it failed.
pub fn refused_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = at {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        at = e.source();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        // (address, global)
        let table: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("203.0.112.255", true),
            ("100.63.255.255", true),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.32.0.0", true),
            ("192.0.1.1", true),
            ("198.20.0.1", true),
            ("223.255.255.255", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.5", false),
            ("10.255.255.255", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("127.0.0.1", false),
            ("127.8.9.10", false),
            ("169.254.169.254", false),
            ("169.254.0.1", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.0.0.8", false),
            ("192.0.2.10", false),
            ("192.88.99.1", false),
            ("192.168.1.1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("2606:4700:4700::1111", true),
            ("2001:4860:4860::8888", true),
            ("2a00:1450:4001:80b::200e", true),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::808:808", true),
            ("2002:808:808::1", true),
            ("::", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.5", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:192.168.0.1", false),
            ("::127.0.0.1", false),
            ("64:ff9b::a00:5", false),
            ("64:ff9b:1::1", false),
            ("2002:a00:5::1", false),
            ("2002:7f00:1::1", false),
            ("fc00::1", false),
            ("fd12:3456:789a::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", false),
            ("ff02::1", false),
            ("ff0e::1", false),
            ("100::1", false),
            ("2001::1", false),
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("4000::1", false),
        ];
        for (raw, global) in table {
            let ip: IpAddr = raw.parse().unwrap();
            assert_eq!(is_global(ip), *global, "{raw}");
            assert_eq!(allowed(ip, false), *global, "{raw}");
        }
    }

    #[test]
    fn the_development_exception_is_plain_loopback_only() {
        for raw in ["127.0.0.1", "127.1.2.3", "::1"] {
            let ip: IpAddr = raw.parse().unwrap();
            assert!(allowed(ip, true), "{raw}");
            assert!(!allowed(ip, false), "{raw}");
        }
        for raw in [
            "::ffff:127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!allowed(raw.parse().unwrap(), true), "{raw}");
        }
    }

    #[test]
    fn names() {
        let host = |raw: &str| url::Url::parse(raw).unwrap();
        for (raw, ok_strict, ok_dev) in [
            ("https://agency.example.vn/hook", true, true),
            ("https://hooks.gov.vn./x", true, true),
            ("https://localhost/", false, true),
            ("https://LOCALHOST./", false, true),
            ("https://api.localhost/", false, false),
            ("https://metadata.google.internal/", false, false),
            ("https://internal/", false, false),
            ("https://printer.local/", false, false),
            ("https://box.localdomain/", false, false),
            ("https://nas.home.arpa/", false, false),
            ("https://redis/", false, false),
            // The URL parser reads these as IPv4 literals.
            ("https://2130706433/", false, true),
            ("https://0x7f.1/", false, true),
            ("https://0177.0.0.1/", false, true),
            ("https://10.0.0.5/x", false, false),
            ("https://[::ffff:127.0.0.1]/", false, false),
            ("https://169.254.169.254/latest/meta-data/", false, false),
            ("https://[fd00::1]/", false, false),
            ("https://8.8.8.8/", true, true),
        ] {
            let url = host(raw);
            let h = url.host().unwrap();
            assert_eq!(check_host(h.clone(), false).is_ok(), ok_strict, "{raw}");
            assert_eq!(check_host(h, true).is_ok(), ok_dev, "{raw} (dev)");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_inside() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
        let strict = PublicOnly {
            allow_loopback: false,
        };
        let Err(error) = strict.resolve(name()).await else {
            panic!("localhost resolved");
        };
        let refused = refused_in(&*error).unwrap();
        assert!(refused.address.is_loopback(), "{refused}");
        let lax = PublicOnly {
            allow_loopback: true,
        };
        let Ok(addrs) = lax.resolve(name()).await else {
            panic!("localhost refused in development");
        };
        assert!(addrs.count() >= 1);
    }

    #[test]
    fn one_bad_address_refuses_the_name() {
        let sa = |raw: &str| SocketAddr::new(raw.parse().unwrap(), 443);
        assert_eq!(
            screen([sa("8.8.8.8"), sa("1.1.1.1")], false).unwrap().len(),
            2
        );
        let refused = screen([sa("8.8.8.8"), sa("10.1.2.3")], false).unwrap_err();
        assert_eq!(refused.address, "10.1.2.3".parse::<IpAddr>().unwrap());
        assert!(
            refused
                .to_string()
                .contains("not a public internet address")
        );
        assert!(screen([sa("127.0.0.1")], false).is_err());
        assert!(screen([sa("127.0.0.1"), sa("::1")], true).is_ok());
    }
}
