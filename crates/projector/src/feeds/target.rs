//! What a feed is of ([`FeedTarget`]: a page, a site, a search) and where
//! it is served: `/feeds/pages/{key}/{format}`, `/feeds/sites/{site}/{format}`
//! and `/feeds/search/{format}?q=`; [`feed_links`] gives a target's three.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::format::FeedFormat;
use crate::zones::site_of;

/// What a feed holds the newest entries of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeedTarget {
    /// One page, by its key (`site.id`, as in `/api/pages/{key}`).
    Page(String),
    /// Every page of a site (keys `site.*`).
    Site(String),
    /// The entries a search finds (as `/api/entries?q=` does).
    Search(String),
}

/// One feed of a target, for a `<link rel="alternate">` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLink {
    pub format: FeedFormat,
    /// The feed's path on the node's HTTP server, percent-encoded, query
    /// included: `/feeds/pages/sample.1/atom`.
    pub href: String,
    /// The tag's `type`: `application/atom+xml`, `application/rss+xml`,
    /// `application/feed+json`.
    pub mime: &'static str,
    /// The tag's `title`: `Atom`, `RSS`, `JSON Feed`.
    pub title: &'static str,
}

/// The Atom, RSS and JSON feeds of `target`, in that order.
pub fn feed_links(target: &FeedTarget) -> [FeedLink; 3] {
    FeedFormat::ALL.map(|format| FeedLink {
        format,
        href: target.path(format),
        mime: format.mime(),
        title: format.title(),
    })
}

/// What a path segment keeps unencoded: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl FeedTarget {
    /// The path of its feed in `format`.
    pub fn path(&self, format: FeedFormat) -> String {
        let name = format.name();
        match self {
            FeedTarget::Page(key) => format!("/feeds/pages/{}/{name}", encode(key)),
            FeedTarget::Site(site) => format!("/feeds/sites/{}/{name}", encode(site)),
            FeedTarget::Search(q) => format!(
                "/feeds/search/{name}?q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ),
        }
    }

    /// The site whose clock its times are shown in; `None` for a search,
    /// whose entries come from any site.
    pub(super) fn site(&self) -> Option<&str> {
        match self {
            FeedTarget::Page(key) => Some(site_of(key)),
            FeedTarget::Site(site) => Some(site),
            FeedTarget::Search(_) => None,
        }
    }
}

/// `s` percent-encoded but for the unreserved characters.
pub(super) fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_percent_encoded_paths_with_their_types() {
        let [atom, rss, json] = feed_links(&FeedTarget::Page("sample.1".into()));
        assert_eq!(atom.href, "/feeds/pages/sample.1/atom");
        assert_eq!(atom.mime, "application/atom+xml");
        assert_eq!(rss.href, "/feeds/pages/sample.1/rss");
        assert_eq!(rss.mime, "application/rss+xml");
        assert_eq!(json.href, "/feeds/pages/sample.1/json");
        assert_eq!(json.mime, "application/feed+json");
        let [_, _, json] = feed_links(&FeedTarget::Search("渋谷 & <x>".into()));
        assert_eq!(
            json.href,
            "/feeds/search/json?q=%E6%B8%8B%E8%B0%B7+%26+%3Cx%3E"
        );
        let [atom, ..] = feed_links(&FeedTarget::Site("a/b".into()));
        assert_eq!(atom.href, "/feeds/sites/a%2Fb/atom");
    }
}
