//! What a feed holds ([`FeedContent`]): the newest entries of its target,
//! read from the replica within fixed bounds, cleaned, with their times as
//! shown; the same content whatever the format.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use crate::store::{EntryView, SearchBudget, Store, StoreError, Window};
use crate::zones::{site_of, Zones};

use super::clean;
use super::ids::{entry_id, feed_id};
use super::target::FeedTarget;

/// The most entries a feed holds: its newest, and nothing paginated.
pub(super) const MAX_ENTRIES: usize = 50;
/// The most entry JSON a feed reads (the first entry always goes): bounds
/// its answer whatever the entries hold.
pub(super) const MAX_BYTES: usize = 512 * 1024;

/// A feed, as every format writes it. Serialised, it is also what the
/// feed's ETag is a digest of.
#[derive(Debug, Serialize)]
pub(super) struct FeedContent {
    pub id: String,
    pub title: String,
    /// The page's URL, or the origin of the site's.
    pub link: Option<String>,
    /// When its newest change came (the latest `last_seen` of its
    /// entries), as shown; the Unix epoch with no entries.
    pub updated: DateTime<FixedOffset>,
    pub items: Vec<FeedItem>,
    /// `updated` as an instant, for `Last-Modified`.
    #[serde(skip)]
    pub last_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub(super) struct FeedItem {
    pub id: String,
    /// A one-line headline of the text.
    pub title: String,
    pub text: String,
    /// The entry's link, if it is an http(s) URL.
    pub link: Option<String>,
    /// The entry's own timestamp, else when it was first seen, as shown.
    pub published: DateTime<FixedOffset>,
    /// The title of the entry's page (its key when it has none).
    pub page_title: String,
    pub page_url: Option<String>,
}

/// What a feed reads at most.
fn window() -> Window {
    Window {
        limit: MAX_ENTRIES,
        max_bytes: MAX_BYTES,
    }
}

impl FeedContent {
    /// The feed of `target` as the replica holds it now; `None` when the
    /// replica knows no such page or site. A search runs within `budget`
    /// (what it found by then is the feed). Times are shown on the clocks
    /// of each entry's site (`zones`); the feed's own, on its site's.
    pub(super) fn read(
        store: &Store,
        target: &FeedTarget,
        budget: SearchBudget,
        zones: &Zones,
    ) -> Result<Option<FeedContent>, StoreError> {
        let mut pages = Pages::default();
        let (title, link, entries) = match target {
            FeedTarget::Page(key) => {
                let Some(page) = store.page(key)? else {
                    return Ok(None);
                };
                let title = pages.remember(key, Some((&page.title, &page.url)));
                let entries = store.page_entries_after(key, None, window())?.items;
                (title, clean::link(&page.url), entries)
            }
            FeedTarget::Site(site) => {
                let prefix = format!("{site}.");
                let first = store.pages_after(Some(&prefix), Window::entries(1))?;
                let Some(page) = first.items.first().filter(|p| p.key.starts_with(&prefix)) else {
                    return Ok(None);
                };
                let entries = store.site_newest(site, window())?.items;
                (clean::text(site), clean::origin(&page.url), entries)
            }
            FeedTarget::Search(q) => {
                let entries = store.search_after(q, None, window(), budget)?.items;
                (format!("Search: {}", clean::text(q)), None, entries)
            }
        };
        let mut items = Vec::with_capacity(entries.len());
        let mut newest: Option<&EntryView> = None;
        for e in &entries {
            if newest.is_none_or(|n| e.last_seen > n.last_seen) {
                newest = Some(e);
            }
            let (page_title, page_url) = pages.get(store, &e.page)?;
            let text = clean::text(&e.text);
            items.push(FeedItem {
                id: entry_id(&e.page, &e.id),
                title: match clean::headline(&text) {
                    headline if headline.is_empty() => page_title.clone(),
                    headline => headline,
                },
                text,
                link: e.link.as_deref().and_then(clean::link),
                published: zones.local(site_of(&e.page), e.sort_time()),
                page_title,
                page_url,
            });
        }
        let last_modified = newest.map(|e| e.last_seen);
        let site = match (target.site(), newest) {
            (Some(site), _) => site,
            (None, Some(e)) => site_of(&e.page),
            (None, None) => "",
        };
        let updated = zones.local(site, last_modified.unwrap_or(DateTime::UNIX_EPOCH));
        Ok(Some(FeedContent {
            id: feed_id(target),
            title,
            link,
            updated,
            items,
            last_modified,
        }))
    }
}

/// The title and URL of each page a feed's entries come from, read once.
#[derive(Default)]
struct Pages(HashMap<String, (String, Option<String>)>);

impl Pages {
    /// The title and link of page `key`, read from `store` the first time.
    fn get(&mut self, store: &Store, key: &str) -> Result<(String, Option<String>), StoreError> {
        if let Some(known) = self.0.get(key) {
            return Ok(known.clone());
        }
        let page = store.page(key)?;
        let title = self.remember(
            key,
            page.as_ref().map(|p| (p.title.as_str(), p.url.as_str())),
        );
        Ok((title, self.0.get(key).and_then(|(_, url)| url.clone())))
    }

    /// Notes page `key`'s title (its key when it has none) and link, from
    /// its row's `(title, url)`, and returns the title.
    fn remember(&mut self, key: &str, page: Option<(&str, &str)>) -> String {
        let (title, url) = page.unwrap_or_default();
        let title = match clean::headline(&clean::text(title)) {
            t if t.is_empty() => key.to_owned(),
            t => t,
        };
        self.0
            .insert(key.to_owned(), (title.clone(), clean::link(url)));
        title
    }
}
