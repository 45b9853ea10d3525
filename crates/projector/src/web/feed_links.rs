//! Where the feeds are ([`feed_url`], the one place their URL scheme is
//! written), and the links to them: `<link rel="alternate">` in the head,
//! and visible ones in the page.

use maud::{html, Markup};

use super::links::{path_segment, query_value};

/// What a feed follows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Feed<'a> {
    /// One page, by its key.
    Page(&'a str),
    /// Every page of a site.
    Site(&'a str),
    /// The entries a search finds.
    Search(&'a str),
}

/// A feed's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedFormat {
    Atom,
    Rss,
    Json,
}

impl FeedFormat {
    pub(crate) const ALL: [FeedFormat; 3] = [FeedFormat::Atom, FeedFormat::Rss, FeedFormat::Json];

    /// Its name in a feed's URL.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FeedFormat::Atom => "atom",
            FeedFormat::Rss => "rss",
            FeedFormat::Json => "json",
        }
    }

    pub(crate) fn media_type(self) -> &'static str {
        match self {
            FeedFormat::Atom => "application/atom+xml",
            FeedFormat::Rss => "application/rss+xml",
            FeedFormat::Json => "application/feed+json",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FeedFormat::Atom => "Atom",
            FeedFormat::Rss => "RSS",
            FeedFormat::Json => "JSON Feed",
        }
    }
}

/// The path (and query) of `feed` in `format` on this node.
pub(crate) fn feed_url(feed: Feed<'_>, format: FeedFormat) -> String {
    let format = format.name();
    match feed {
        Feed::Page(key) => format!("/feeds/pages/{}/{format}", path_segment(key)),
        Feed::Site(site) => format!("/feeds/sites/{}/{format}", path_segment(site)),
        Feed::Search(q) => format!("/feeds/search/{format}?q={}", query_value(q)),
    }
}

fn title(feed: Feed<'_>) -> String {
    match feed {
        Feed::Page(key) => format!("page {key}"),
        Feed::Site(site) => format!("site {site}"),
        Feed::Search(q) => format!("search “{q}”"),
    }
}

/// `<link rel="alternate">` of every format of `feed`, for the head.
pub(super) fn head_links(feed: Feed<'_>) -> Markup {
    let title = title(feed);
    html! {
        @for format in FeedFormat::ALL {
            link rel="alternate" type=(format.media_type())
                title=(format!("{title} ({})", format.label()))
                href=(feed_url(feed, format));
        }
    }
}

/// A line of links to every format of `feed`, after "Feeds:" when
/// `labelled`.
pub(super) fn visible_links(feed: Feed<'_>, labelled: bool) -> Markup {
    html! {
        span.feeds {
            @if labelled { "Feeds: " }
            @for (i, format) in FeedFormat::ALL.into_iter().enumerate() {
                @if i > 0 { " · " }
                a.feed href=(feed_url(feed, format)) type=(format.media_type()) { (format.label()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_scheme_and_encode_what_they_carry() {
        assert_eq!(
            feed_url(Feed::Page("sample.42"), FeedFormat::Atom),
            "/feeds/pages/sample.42/atom"
        );
        assert_eq!(
            feed_url(Feed::Site("sample"), FeedFormat::Rss),
            "/feeds/sites/sample/rss"
        );
        assert_eq!(
            feed_url(Feed::Search("渋谷 & co"), FeedFormat::Json),
            "/feeds/search/json?q=%E6%B8%8B%E8%B0%B7%20%26%20co"
        );
        assert_eq!(
            feed_url(Feed::Page("a/../b?c"), FeedFormat::Json),
            "/feeds/pages/a%2F..%2Fb%3Fc/json"
        );
    }
}
