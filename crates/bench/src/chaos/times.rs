//! The times a replica stores against the times JetStream stored the
//! events: a fetcher's clock cannot put an entry or a page after the
//! moment its event reached the log (the projector caps every time at the
//! message's JetStream timestamp). A clock behind is not capped: those
//! times are counted and reported, not failed.

use chrono::{DateTime, Utc};
use pagefeed_testkit::projector_api::http_client;
use serde_json::Value;

use super::invariants::{EventsRead, SKEW_NOTED};
use super::nodes::{read_page, PageRead};
use super::report::Check;
use super::system::Node;

/// Every entry and page of `node` (pages `sample.1..=pages`) has its
/// times (first and last seen, last crawled, failed at) no later than the
/// JetStream time of its last event.
pub async fn stored_times(node: &Node, read: &anyhow::Result<EventsRead>, pages: u64) -> Check {
    let name = "no stored time after its JetStream time";
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            return Check {
                name,
                held: false,
                figure: format!("cannot read PAGEFEED_EVENTS: {e:#}"),
            }
        }
    };
    match compare(node, read, pages).await {
        Ok(found) => Check {
            name,
            held: found.after.is_empty() && found.unknown == 0,
            figure: format!(
                "node {}: {} entries and {} pages compared; {} times after JetStream's{}; \
                 {} entries unknown to the log; {} entries first seen more than {} s before \
                 JetStream stored them (a clock behind, not capped); events with their own \
                 time more than {} s off: {} ahead (at most {} s), {} behind (at most {} s)",
                node.name,
                found.entries,
                found.pages,
                found.after.len(),
                if found.after.is_empty() {
                    String::new()
                } else {
                    format!(": {}", found.after[..found.after.len().min(10)].join("; "))
                },
                found.unknown,
                found.early,
                SKEW_NOTED.num_seconds(),
                SKEW_NOTED.num_seconds(),
                read.ahead.0,
                read.ahead.1.num_seconds(),
                read.behind.0,
                read.behind.1.num_seconds()
            ),
        },
        Err(e) => Check {
            name,
            held: false,
            figure: format!("cannot read node {}: {e:#}", node.name),
        },
    }
}

/// What [`compare`] found.
#[derive(Default)]
struct Found {
    entries: usize,
    pages: usize,
    /// Each time found after its JetStream time, described.
    after: Vec<String>,
    /// Entries the log has no event of.
    unknown: usize,
    /// Entries first seen more than [`SKEW_NOTED`] before their first
    /// event was stored.
    early: usize,
}

async fn compare(node: &Node, read: &EventsRead, pages: u64) -> anyhow::Result<Found> {
    let client = http_client();
    let mut found = Found::default();
    for id in 1..=pages {
        let key = format!("sample.{id}");
        let PageRead { page, entries } = read_page(&client, node, &key).await?;
        found.pages += 1;
        if let Some(last) = read.pages.get(&key) {
            let crawled = time(&page["last_crawled"]);
            check(&mut found, &key, "last_crawled", crawled, *last);
            let failed = time(&page["failure"]["at"]);
            check(&mut found, &key, "failure.at", failed, *last);
        }
        for entry in &entries {
            found.entries += 1;
            let entry_id = entry["id"].as_str().unwrap_or_default().to_owned();
            let Some(seen) = read.entries.get(&(key.clone(), entry_id.clone())) else {
                found.unknown += 1;
                continue;
            };
            let what = format!("{key} {entry_id}");
            let first = time(&entry["first_seen"]);
            check(&mut found, &what, "first_seen", first, seen.first);
            check(
                &mut found,
                &what,
                "last_seen",
                time(&entry["last_seen"]),
                seen.last,
            );
            if first.is_some_and(|first| seen.first - first > SKEW_NOTED) {
                found.early += 1;
            }
        }
    }
    Ok(found)
}

/// Notes `stored` if it is after `bound`.
fn check(
    found: &mut Found,
    what: &str,
    field: &str,
    stored: Option<DateTime<Utc>>,
    bound: DateTime<Utc>,
) {
    if let Some(stored) = stored.filter(|stored| *stored > bound) {
        found
            .after
            .push(format!("{what} {field} {stored} after JetStream's {bound}"));
    }
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str()?.parse().ok()
}
