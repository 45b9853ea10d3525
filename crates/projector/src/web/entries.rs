//! A list of entries as the web view shows it, newest first (the text,
//! its search matches marked, its time, its page and its link when that
//! is http or https), and the links to the next window.

use maud::{html, Markup};

use crate::store::EntryView;

use super::highlight::highlighted;
use super::links::{page_href, web_href};
use super::times::time;
use crate::zones::{site_of, Zones};

/// `entries` in order; with `query`, its matches marked; with `with_page`,
/// a link to each entry's page.
pub(super) fn entry_list(
    zones: &Zones,
    entries: &[EntryView],
    query: Option<&str>,
    with_page: bool,
) -> Markup {
    html! {
        ol.entries {
            @for e in entries {
                li.entry data-id=(e.id) {
                    p.text {
                        @match query {
                            Some(q) => (highlighted(&e.text, q)),
                            None => (e.text),
                        }
                    }
                    p.meta {
                        (time(zones, site_of(&e.page), e.sort_time()))
                        @if with_page {
                            " · " a.page href=(page_href(&e.page)) { (e.page) }
                        }
                        @if let Some(link) = &e.link {
                            " · "
                            @match web_href(link) {
                                Some(href) => a.link href=(href) rel="nofollow noopener noreferrer" { "original" },
                                None => span title="not an http(s) link, not followed" { "link " code { (link) } },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Links to the first window (`first`, when this is not it) and to the
/// next one (`next`, labelled `next_label`).
pub(super) fn pager(first: Option<String>, next: Option<String>, next_label: &str) -> Markup {
    html! {
        @if first.is_some() || next.is_some() {
            nav.pager aria-label="More entries" {
                @if let Some(href) = first { a.first href=(href) { "← Newest" } }
                @if let Some(href) = next { a.next rel="next" href=(href) { (next_label) " →" } }
            }
        }
    }
}
