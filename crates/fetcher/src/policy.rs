//! Which addresses a fetch may connect to (design invariant 6). The hosts a
//! site's configuration names are the operator's word: trusted whatever they
//! resolve to. Any other host (where a redirect leads) only on a global
//! address, or one in the site's `allow_networks`. The check is made on the
//! addresses actually connected to: the resolver keeps only allowed ones, and
//! IP literals, which bypass the resolver, are checked on the first URL and
//! at every redirect. A redirect from https to http is refused too.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use pagefeed_events::config::Site;
use pagefeed_events::redact::redact_url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// What a client of one site may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Trusted domain names, as the URL parser writes them (lowercase,
    /// punycode).
    domains: HashSet<String>,
    /// Trusted IP-literal hosts.
    ips: HashSet<IpAddr>,
    /// Non-global networks allowed anyway.
    allow: Vec<IpNet>,
}

/// Why the policy refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// A redirect the policy refuses (its target, without credentials).
    #[error("redirect to {to} refused: {why}")]
    Redirect { to: String, why: String },
    /// A host whose every address is outside what the site allows.
    #[error("{host} resolves to {ip}, a {range} address the site does not allow")]
    Address {
        host: String,
        ip: IpAddr,
        range: &'static str,
    },
}

impl AddressPolicy {
    /// The policy of `site`: its configured hosts are trusted, and its
    /// `allow_networks` allowed.
    pub fn for_site(site: &Site) -> AddressPolicy {
        let policy = AddressPolicy::allowing(site.allow_networks.iter().copied());
        site.host_urls()
            .iter()
            .fold(policy, |policy, url| policy.trusting_host_of(url))
    }

    /// Trusts no host; allows global addresses and `networks`.
    pub fn allowing(networks: impl IntoIterator<Item = IpNet>) -> AddressPolicy {
        AddressPolicy {
            allow: networks.into_iter().collect(),
            ..AddressPolicy::default()
        }
    }

    /// Also trusts the host of `url` (one the operator named: in the config,
    /// on the command line). A URL that does not parse adds nothing.
    pub fn trusting_host_of(mut self, url: &str) -> AddressPolicy {
        match Url::parse(url).ok().as_ref().and_then(Url::host) {
            Some(Host::Domain(name)) => {
                self.domains.insert(name.to_owned());
            }
            Some(Host::Ipv4(ip)) => {
                self.ips.insert(ip.into());
            }
            Some(Host::Ipv6(ip)) => {
                self.ips.insert(ip.into());
            }
            None => {}
        }
        self
    }

    /// Whether a host that is not trusted may be reached at `ip`.
    fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        non_global(ip).is_none() || self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Checks the host of the first URL of a fetch when it is an IP literal
    /// (a name is the resolver's to check).
    pub fn check_first(&self, url: &Url) -> Result<(), Blocked> {
        match literal(url) {
            Some(ip) if !self.ips.contains(&ip) => match self.refusal(ip) {
                Some(range) => Err(Blocked::Address {
                    host: ip.to_string(),
                    ip,
                    range,
                }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Checks a redirect from `from` to `to`: the scheme, and the host when
    /// it is an IP literal.
    pub fn check_redirect(&self, from: &Url, to: &Url) -> Result<(), Blocked> {
        let refuse = |why: String| {
            Err(Blocked::Redirect {
                to: redact_url(to.as_str()).into_owned(),
                why,
            })
        };
        if !matches!(to.scheme(), "http" | "https") {
            return refuse(format!("scheme \"{}\" is not http or https", to.scheme()));
        }
        if from.scheme() == "https" && to.scheme() == "http" {
            return refuse("it downgrades https to http".to_owned());
        }
        if to.host().is_none() {
            return refuse("no host".to_owned());
        }
        match literal(to) {
            Some(ip) if !self.ips.contains(&ip) => match self.refusal(ip) {
                Some(range) => refuse(format!("{ip} is a {range} address")),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The range `ip` is refused for, if it is.
    fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allows(ip) {
            None
        } else {
            non_global(ip.to_canonical())
        }
    }

    /// A resolver that applies this policy to what `names` (in production
    /// [`SystemResolver`]) resolves names to.
    pub fn resolver(self: &Arc<Self>, names: Arc<dyn Resolve>) -> PolicyResolver {
        PolicyResolver {
            policy: Arc::clone(self),
            names,
        }
    }
}

/// The host of `url` when it is an IP literal.
fn literal(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(ip.into()),
        Host::Ipv6(ip) => Some(ip.into()),
        Host::Domain(_) => None,
    }
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A resolver, keeping only the addresses the policy allows: a trusted name
/// keeps them all; another keeps its global and allowed ones, and is refused
/// ([`Blocked::Address`]) if none is left.
#[derive(Clone)]
pub struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    names: Arc<dyn Resolve>,
}

impl std::fmt::Debug for PolicyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyResolver")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        let resolving = self.names.resolve(name);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolving.await?.collect();
            if policy.domains.contains(&host) {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                addrs.into_iter().partition(|addr| policy.allows(addr.ip()));
            match refused.first() {
                Some(addr) if allowed.is_empty() => {
                    let ip = addr.ip();
                    Err(Box::new(Blocked::Address {
                        host,
                        ip,
                        range: non_global(ip.to_canonical()).unwrap_or("refused"),
                    }) as _)
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The special-purpose range `ip` is in, when it is not a global unicast
/// address (the IANA special-purpose registries; an IPv6 address that embeds
/// an IPv4 one, mapped, NAT64 or 6to4, is judged by that IPv4 address).
fn non_global(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => non_global_v4(ip),
        IpAddr::V6(ip) => non_global_v6(ip),
    }
}

fn non_global_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        (0, 0, 0) if ip.is_unspecified() => "unspecified",
        (0, ..) => "\"this network\" (0.0.0.0/8)",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared (CGNAT, 100.64.0.0/10)",
        (127, ..) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn non_global_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_global_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_global_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return non_global_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        0xff00..=0xffff => "multicast",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x2001 if s[1] < 0x0200 => "IETF protocol assignments (2001::/23)",
        0x3fff if s[1] < 0x1000 => "documentation",
        0x2000..=0x3fff => return None,
        _ => "reserved (outside 2000::/3)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn every_non_global_range_is_named() {
        for (addr, range) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.254", "CGNAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.2", "loopback"),
            ("169.254.169.254", "link-local"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.1", "documentation"),
            ("203.0.113.1", "documentation"),
            ("192.88.99.1", "6to4 relay"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:7f00:1::", "loopback"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "IETF"),
            ("100::1", "reserved"),
            ("::127.0.0.1", "reserved"),
            ("64:ff9b:1::1", "reserved"),
        ] {
            let got = non_global(ip(addr));
            assert!(
                got.is_some_and(|g| g.contains(range)),
                "{addr}: {got:?}, expected {range}"
            );
        }
    }

    #[test]
    fn global_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.3.1",
            "198.17.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2002:808:808::1",
        ] {
            assert_eq!(non_global(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn allowed_networks_admit_their_addresses_only() {
        let policy = AddressPolicy::allowing(["10.1.0.0/16".parse().unwrap()]);
        assert!(policy.allows(ip("10.1.2.3")));
        assert!(policy.allows(ip("::ffff:10.1.2.3")), "mapped form");
        assert!(!policy.allows(ip("10.2.0.1")));
        assert!(!policy.allows(ip("169.254.169.254")));
        assert!(policy.allows(ip("8.8.8.8")));
    }

    #[test]
    fn redirects_are_checked_by_scheme_and_literal_host() {
        let policy =
            AddressPolicy::allowing([]).trusting_host_of("http://127.0.0.1:8700/p?id={id}");
        let url = |u: &str| Url::parse(u).unwrap();
        let from = url("http://127.0.0.1:8700/p");
        assert_eq!(
            policy.check_redirect(&from, &url("http://127.0.0.1:9/x")),
            Ok(())
        );
        assert_eq!(
            policy.check_redirect(&from, &url("http://8.8.8.8/")),
            Ok(())
        );
        assert_eq!(
            policy.check_redirect(&from, &url("http://example.com/")),
            Ok(())
        );
        for to in [
            "http://127.0.0.2/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:7f00:2]/",
            "http://0x7f.2/",
            "http://2130706434/",
            "ftp://8.8.8.8/",
        ] {
            assert!(
                matches!(
                    policy.check_redirect(&from, &url(to)),
                    Err(Blocked::Redirect { .. })
                ),
                "{to}"
            );
        }
        let secure = url("https://8.8.8.8/");
        assert!(policy
            .check_redirect(&secure, &url("http://8.8.8.8/"))
            .is_err());
        assert_eq!(
            policy.check_redirect(&secure, &url("https://1.1.1.1/")),
            Ok(())
        );
        let e = policy
            .check_redirect(&from, &url("http://me:secret@10.0.0.1/"))
            .unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn the_first_url_must_be_trusted_or_allowed() {
        let policy = AddressPolicy::allowing([]).trusting_host_of("http://[::1]:80/");
        let url = |u: &str| Url::parse(u).unwrap();
        assert_eq!(policy.check_first(&url("http://[::1]:8080/")), Ok(()));
        assert_eq!(
            policy.check_first(&url("http://localhost/")),
            Ok(()),
            "the resolver's"
        );
        assert!(matches!(
            policy.check_first(&url("http://127.0.0.1/")),
            Err(Blocked::Address {
                range: "loopback",
                ..
            })
        ));
    }
}
