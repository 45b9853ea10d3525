//! The events every projector run publishes or applies: realistic
//! `entry_observed` events made from the sample site's pages, with the
//! sample site's texts or with texts given (the real-text corpus).

use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_events::publish::Outgoing;
use pagefeed_testkit::sample_site::{expected_entries, SampleSiteOptions};

/// Entries on a sample site page.
pub const ENTRIES_PER_PAGE: usize = 20;

/// `count` realistic entry events: the sample site's pages, 20 entries each,
/// from page `first_page + 1` on.
pub fn entry_events(count: usize, first_page: u64) -> Vec<Outgoing> {
    events_with_texts(count, first_page, &mut std::iter::empty())
}

/// [`entry_events`] whose texts are taken from `texts` (the sample site's
/// own where it runs dry).
pub fn events_with_texts(
    count: usize,
    first_page: u64,
    texts: &mut dyn Iterator<Item = String>,
) -> Vec<Outgoing> {
    let opts = SampleSiteOptions::default();
    let now = chrono::Utc::now();
    let mut out = Vec::with_capacity(count);
    for id in first_page + 1.. {
        for e in expected_entries(id, now.timestamp(), &opts) {
            if out.len() >= count {
                return out;
            }
            let Ok(page) = format!("sample.{id}").parse() else {
                continue;
            };
            let event = Event::EntryObserved(EntryObserved {
                page,
                id: e.index.to_string(),
                text: texts.next().unwrap_or(e.text),
                timestamp: chrono::DateTime::from_timestamp(e.posted_at, 0),
                link: Some(format!("http://127.0.0.1:8700{}", e.href)),
                observed_at: now,
                first_crawl: false,
            });
            out.push(Outgoing::from(&event));
        }
    }
    out
}
