//! `/`: this node (the figures of `/api/status`), its sites, its pages
//! failing ones first, and the newest entries.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use crate::api::state::{read, ApiState};
use crate::api::status::StatusBody;
use crate::store::{EntryView, PageView, Store, StoreError, Window};

use super::entries::entry_list;
use super::feed_links::visible_links;
use super::layout::{document, error_page, respond, Frame};
use super::pages::page_table;
use crate::feeds::FeedTarget;
use crate::zones::{site_of, Zones};

/// The most pages the overview reads to count sites and find the failing
/// ones; past it, it says so (`/pages` lists them all).
const PAGES_COUNTED: usize = 10_000;
/// Pages read at a time while counting.
const PAGES_READ: usize = 500;
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

/// What the overview read of the pages: counts, and only the pages it
/// shows, so that what it holds stays small however large the rows.
#[derive(Default)]
struct Pages {
    sites: BTreeMap<String, Site>,
    counted: usize,
    failing: usize,
    /// More pages than [`PAGES_COUNTED`].
    more: bool,
    /// The failing pages shown: the last failure first, then by key.
    failing_shown: Vec<PageView>,
    /// The others shown, by key.
    fine_shown: Vec<PageView>,
}

impl Pages {
    /// Reads the pages by key, [`PAGES_READ`] at a time, up to [`PAGES_COUNTED`].
    fn read(store: &Store) -> Result<Pages, StoreError> {
        let mut pages = Pages::default();
        let mut after: Option<String> = None;
        loop {
            let window = Window {
                limit: PAGES_READ.min(PAGES_COUNTED - pages.counted),
                max_bytes: usize::MAX,
            };
            let listed = store.pages_after(after.as_deref(), window)?;
            for page in listed.items {
                pages.add(page);
            }
            after = listed.next;
            if after.is_none() {
                return Ok(pages);
            }
            if pages.counted >= PAGES_COUNTED {
                pages.more = true;
                return Ok(pages);
            }
        }
    }

    /// Counts `page` (pages come in key order), and keeps it if shown.
    fn add(&mut self, page: PageView) {
        self.counted += 1;
        let site = self.sites.entry(site_of(&page.key).to_owned()).or_default();
        site.pages += 1;
        let Some(at) = page.failure.as_ref().map(|f| f.at) else {
            if self.fine_shown.len() < PAGES_SHOWN {
                self.fine_shown.push(page);
            }
            return;
        };
        site.failing += 1;
        self.failing += 1;
        // Kept in order, the last failure first (a tie stays in key order).
        let place = self
            .failing_shown
            .partition_point(|p| p.failure.as_ref().is_some_and(|f| f.at >= at));
        if place < PAGES_SHOWN {
            self.failing_shown.insert(place, page);
            self.failing_shown.truncate(PAGES_SHOWN);
        }
    }

    /// The pages shown: failing ones first, at most [`PAGES_SHOWN`].
    fn shown(&self) -> Vec<PageView> {
        self.failing_shown
            .iter()
            .chain(&self.fine_shown)
            .take(PAGES_SHOWN)
            .cloned()
            .collect()
    }
}

pub(super) async fn overview(State(state): State<ApiState>) -> Response {
    let status = StatusBody::of(&state);
    let newest = Window {
        limit: NEWEST_SHOWN,
        max_bytes: state.options.max_bytes,
    };
    let read = read(&state, move |s| {
        Ok((Pages::read(s)?, s.newest_after(None, newest)?.items))
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
                (pages_section(state.zones(), &pages))
                (newest_section(state.zones(), &newest))
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
                                    td { (visible_links(&FeedTarget::Site(name.to_string()), false)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pages_section(zones: &Zones, pages: &Pages) -> Markup {
    html! {
        section aria-labelledby="pages-h" {
            h2 #pages-h { "Pages" }
            p.muted {
                (pages.counted) @if pages.more { "+" } " pages, "
                (pages.failing) " failing; failing ones first"
                @if pages.more { " (of the first " (PAGES_COUNTED) " by key)" }
                ". " a href="/pages" { "All pages" }
            }
            @if pages.counted > 0 { (page_table(zones, &pages.shown())) }
        }
    }
}

fn newest_section(zones: &Zones, newest: &[EntryView]) -> Markup {
    html! {
        section aria-labelledby="newest-h" {
            h2 #newest-h { "Newest entries" }
            @if newest.is_empty() { p { "No entries yet." } } @else { (entry_list(zones, newest, None, true)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::store::Failure;

    fn page(key: &str, failed_at: Option<i64>) -> PageView {
        let at = |secs| DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
        PageView {
            key: key.to_owned(),
            url: String::new(),
            title: String::new(),
            last_crawled: at(0),
            status: 200,
            failure: failed_at.map(|secs| Failure {
                reason: "timeout".into(),
                detail: String::new(),
                status: None,
                at: at(secs),
            }),
            entries: 0,
        }
    }

    #[test]
    fn failing_pages_come_first_the_last_failure_first_and_counts_are_whole() {
        let mut pages = Pages::default();
        for i in 0..200 {
            // Every third page fails, at times that go up and down.
            let failed = (i % 3 == 0).then_some((i * 7919) % 101);
            pages.add(page(&format!("s{}.{i:03}", i % 2), failed));
        }
        assert_eq!(pages.counted, 200);
        assert_eq!(pages.failing, 67);
        assert_eq!(pages.sites["s0"].pages + pages.sites["s1"].pages, 200);
        assert_eq!(pages.sites["s0"].failing + pages.sites["s1"].failing, 67);
        let shown = pages.shown();
        assert_eq!(shown.len(), PAGES_SHOWN);
        assert!(
            shown.iter().all(|p| p.failure.is_some()),
            "50 of 67 failing"
        );
        let times: Vec<_> = shown
            .iter()
            .map(|p| p.failure.as_ref().unwrap().at)
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "the last failure first"
        );
        // The 50 shown are the 50 latest failures.
        let mut all: Vec<i64> = (0..200)
            .filter(|i| i % 3 == 0)
            .map(|i| (i * 7919) % 101)
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(times.last().unwrap().timestamp(), all[PAGES_SHOWN - 1]);

        let mut few = Pages::default();
        few.add(page("a.2", None));
        few.add(page("a.3", Some(5)));
        few.add(page("a.4", Some(9)));
        let keys: Vec<_> = few.shown().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["a.4", "a.3", "a.2"]);
    }
}
