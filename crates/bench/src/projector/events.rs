//! The events every projector run publishes or applies: realistic
//! `entry_observed` events made from the sample site's pages.

use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_events::publish::Outgoing;
use pagefeed_testkit::sample_site::{expected_entries, SampleSiteOptions};

/// `count` realistic entry events: the sample site's pages, 20 entries each,
/// from page `first_page + 1` on.
pub fn entry_events(count: usize, first_page: u64) -> Vec<Outgoing> {
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
                text: e.text,
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
