//! The links to a page's, a site's or a search's feeds: `<link
//! rel="alternate">` in the head, and visible ones in the page. Where the
//! feeds are is the feeds' own business ([`feed_links`]).

use maud::{html, Markup};

use crate::feeds::{feed_links, FeedTarget};

fn title(target: &FeedTarget) -> String {
    match target {
        FeedTarget::Page(key) => format!("page {key}"),
        FeedTarget::Site(site) => format!("site {site}"),
        FeedTarget::Search(q) => format!("search “{q}”"),
    }
}

/// `<link rel="alternate">` of every format of `target`, for the head.
pub(super) fn head_links(target: &FeedTarget) -> Markup {
    let title = title(target);
    html! {
        @for link in feed_links(target) {
            link rel="alternate" type=(link.mime)
                title=(format!("{title} ({})", link.title))
                href=(link.href);
        }
    }
}

/// A line of links to every format of `target`, after "Feeds:" when
/// `labelled`.
pub(super) fn visible_links(target: &FeedTarget, labelled: bool) -> Markup {
    html! {
        span.feeds {
            @if labelled { "Feeds: " }
            @for (i, link) in feed_links(target).into_iter().enumerate() {
                @if i > 0 { " · " }
                a.feed href=(link.href) type=(link.mime) { (link.title) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_links_every_format_escaped() {
        let head = head_links(&FeedTarget::Search("渋谷 <&> co".into())).into_string();
        for mime in [
            "application/atom+xml",
            "application/rss+xml",
            "application/feed+json",
        ] {
            assert!(head.contains(&format!("type=\"{mime}\"")), "{head}");
        }
        assert!(head.contains("href=\"/feeds/search/atom?q="), "{head}");
        assert!(!head.contains("<&>"), "escaped: {head}");
    }
}
