//! A site's own request headers (`headers`, and `cookies` as one `Cookie`
//! header) and where they may go: all of them to the hosts the site's URLs
//! name, only those that say how the fetcher presents itself (`User-Agent`,
//! `Accept`, `Accept-Language`) to a host a redirect leads to. A cookie or a
//! token never follows a redirect to another host.

use std::collections::HashSet;

use pagefeed_events::config::Site;
use reqwest::header::{self, HeaderMap, HeaderName};
use url::Url;

/// The site headers that go to any host of a fetch.
const FOLLOW_REDIRECTS: [HeaderName; 3] =
    [header::USER_AGENT, header::ACCEPT, header::ACCEPT_LANGUAGE];

/// A site's headers and the origins they go to in full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteHeaders {
    /// Every value is marked sensitive (the config does it), so no `Debug`
    /// shows one.
    headers: HeaderMap,
    /// Host and port of each URL the site's configuration names.
    hosts: HashSet<(String, u16)>,
}

impl SiteHeaders {
    /// The headers and cookies of `site`, for its hosts.
    pub fn of(site: &Site) -> SiteHeaders {
        let mut headers = site.request.headers.clone();
        if let Some(cookie) = site.request.cookie_header() {
            headers.insert(header::COOKIE, cookie);
        }
        let hosts = site
            .host_urls()
            .iter()
            .filter_map(|url| host_and_port(&Url::parse(url).ok()?))
            .collect();
        SiteHeaders { headers, hosts }
    }

    /// Whether `url` is on one of the site's hosts (same host, same port;
    /// the scheme may differ).
    pub fn is_site_host(&self, url: &Url) -> bool {
        host_and_port(url).is_some_and(|key| self.hosts.contains(&key))
    }

    /// What a request to `url` carries: everything on the site's hosts, the
    /// presentation headers elsewhere.
    pub fn for_url(&self, url: &Url) -> HeaderMap {
        if self.is_site_host(url) {
            return self.headers.clone();
        }
        let mut kept = HeaderMap::new();
        for name in FOLLOW_REDIRECTS {
            if let Some(value) = self.headers.get(&name) {
                kept.insert(name, value.clone());
            }
        }
        kept
    }
}

fn host_and_port(url: &Url) -> Option<(String, u16)> {
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use pagefeed_events::Config;

    use super::*;

    fn site(extra: &str) -> Site {
        let text = format!(
            "[[site]]\nname = \"s\"\npages = {{ a = \"http://127.0.0.1:8080/a\", b = \"https://shop.test/b\" }}\n\
             interval = \"1h\"\nretention = \"1d\"\n{extra}\n[site.extract]\nentry = \"div\"\n"
        );
        Config::parse(Path::new("t.toml"), &text)
            .unwrap()
            .sites
            .remove(0)
    }

    #[test]
    fn cookies_and_tokens_go_to_the_site_hosts_only() {
        let headers = SiteHeaders::of(&site(
            "headers = { \"User-Agent\" = \"ua/1\", Authorization = \"Bearer t\", \
             \"Accept-Language\" = \"ja\" }\ncookies = { s = \"1\", a = \"2\" }",
        ));
        let url = |u: &str| Url::parse(u).unwrap();
        for own in [
            "http://127.0.0.1:8080/other",
            "https://shop.test/x",
            "https://SHOP.test:443/y",
        ] {
            let sent = headers.for_url(&url(own));
            assert_eq!(sent.get(header::COOKIE).unwrap(), "a=2; s=1", "{own}");
            assert_eq!(sent.get(header::AUTHORIZATION).unwrap(), "Bearer t");
            assert_eq!(sent.len(), 4, "{own}");
        }
        for other in [
            "http://127.0.0.2:8080/a",
            "http://127.0.0.1:8081/a",
            "http://shop.test/b",
            "https://cdn.shop.test/b",
        ] {
            let sent = headers.for_url(&url(other));
            assert_eq!(sent.get(header::COOKIE), None, "{other}");
            assert_eq!(sent.get(header::AUTHORIZATION), None, "{other}");
            assert_eq!(sent.get(header::USER_AGENT).unwrap(), "ua/1", "{other}");
            assert_eq!(sent.get(header::ACCEPT_LANGUAGE).unwrap(), "ja", "{other}");
        }
        let shown = format!("{headers:?}");
        assert!(
            !shown.contains("Bearer") && !shown.contains("s=1"),
            "{shown}"
        );
    }

    #[test]
    fn a_site_without_settings_sends_nothing_of_its_own() {
        let headers = SiteHeaders::of(&site(""));
        assert!(headers
            .for_url(&Url::parse("http://127.0.0.1:8080/a").unwrap())
            .is_empty());
    }
}
