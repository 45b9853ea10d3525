//! `/`: this node (the figures of `/api/status`), its sites, its pages
//! failing ones first, and the newest entries.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use crate::api::state::{read, ApiState};
use crate::api::status::StatusBody;
use crate::store::{EntryView, PageView, Window};

use super::entries::entry_list;
use super::feed_links::{visible_links, Feed};
use super::layout::{document, error_page, respond, Frame};
use super::pages::page_table;
use super::times::site_of;

/// The most pages the overview reads to count sites and find the failing
/// ones; past it, it says so (`/pages` lists them all).
const PAGES_COUNTED: usize = 10_000;
/// The most pages its table shows.
const PAGES_SHOWN: usize = 50;
/// The newest entries it shows.
const NEWEST_SHOWN: usize = 20;

/// A site's pages, as counted.
#[derive(Default)]
struct Site {
    pages: u64,
    failing: u64,
}

/// What the overview read of the pages.
struct Pages {
    sites: BTreeMap<String, Site>,
    counted: usize,
    failing: usize,
    /// More pages than [`PAGES_COUNTED`].
    more: bool,
    /// Failing pages (the last failure first), then the others by key.
    shown: Vec<PageView>,
}

impl Pages {
    fn of(pages: Vec<PageView>, more: bool) -> Pages {
        let counted = pages.len();
        let mut sites: BTreeMap<String, Site> = BTreeMap::new();
        for page in &pages {
            let site = sites.entry(site_of(&page.key).to_owned()).or_default();
            site.pages += 1;
            site.failing += u64::from(page.failure.is_some());
        }
        let (mut failing, fine): (Vec<PageView>, Vec<PageView>) =
            pages.into_iter().partition(|p| p.failure.is_some());
        let failing_count = failing.len();
        // The last failure first; pages come in key order, and the sort is stable.
        failing.sort_by_key(|p| std::cmp::Reverse(p.failure.as_ref().map(|f| f.at)));
        let shown = failing.into_iter().chain(fine).take(PAGES_SHOWN).collect();
        Pages {
            sites,
            counted,
            failing: failing_count,
            more,
            shown,
        }
    }
}

pub(super) async fn overview(State(state): State<ApiState>) -> Response {
    let status = StatusBody::of(&state);
    let newest = Window {
        limit: NEWEST_SHOWN,
        max_bytes: state.options.max_bytes,
    };
    let read = read(&state, move |s| {
        let pages = s.pages_after(
            None,
            Window {
                limit: PAGES_COUNTED,
                max_bytes: usize::MAX,
            },
        )?;
        let newest = s.newest_after(None, newest)?;
        Ok((Pages::of(pages.items, pages.next.is_some()), newest.items))
    })
    .await;
    match read {
        Ok((pages, newest)) => {
            let frame = Frame {
                title: &format!("Node {}", status.node),
                query: None,
                feed: None,
            };
            let body = html! {
                (node(&status))
                (sites(&pages))
                (pages_section(&pages))
                (newest_section(&newest))
            };
            respond(StatusCode::OK, document(&frame, body))
        }
        Err(e) => error_page(&e, None),
    }
}

fn node(status: &StatusBody) -> Markup {
    html! {
        h1 { "Node " (status.node) }
        section aria-labelledby="node-h" {
            h2 #node-h .visually-hidden { "This node" }
            dl.facts.status {
                dt { "Applied sequence" } dd #applied-seq { (status.applied_seq) }
                dt { "Stream's last sequence" } dd { (status.stream_last_seq) }
                dt { "Lag" } dd #lag { (status.lag) }
                dt { "Digest" } dd { code #digest { (status.digest) } }
                dt { "Pages" } dd { (status.pages) }
                dt { "Entries" } dd { (status.entries) }
                dt { "Rejected events" } dd #rejected {
                    @if status.rejected > 0 { span.bad { (status.rejected) } } @else { "0" }
                }
                dt { "Applying" } dd {
                    @match &status.apply_error {
                        Some(why) => span.bad { (status.applying) ": " (why) },
                        None => { (status.applying) }
                    }
                }
            }
        }
    }
}

fn sites(pages: &Pages) -> Markup {
    html! {
        section aria-labelledby="sites-h" {
            h2 #sites-h { "Sites" }
            @if pages.sites.is_empty() {
                p { "No pages crawled yet." }
            } @else {
                div.scroll {
                    table.sites {
                        thead { tr { th { "Site" } th { "Pages" } th { "Failing" } th { "Feeds" } } }
                        tbody {
                            @for (name, site) in &pages.sites {
                                tr.site data-site=(name) {
                                    td { (name) }
                                    td { (site.pages) }
                                    td { @if site.failing > 0 { span.bad { (site.failing) } } @else { "0" } }
                                    td { (visible_links(Feed::Site(name), false)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pages_section(pages: &Pages) -> Markup {
    html! {
        section aria-labelledby="pages-h" {
            h2 #pages-h { "Pages" }
            p.muted {
                (pages.counted) @if pages.more { "+" } " pages, "
                (pages.failing) " failing; failing ones first"
                @if pages.more { " (of the first " (PAGES_COUNTED) " by key)" }
                ". " a href="/pages" { "All pages" }
            }
            @if !pages.shown.is_empty() { (page_table(&pages.shown)) }
        }
    }
}

fn newest_section(newest: &[EntryView]) -> Markup {
    html! {
        section aria-labelledby="newest-h" {
            h2 #newest-h { "Newest entries" }
            @if newest.is_empty() { p { "No entries yet." } } @else { (entry_list(newest, None, true)) }
        }
    }
}
