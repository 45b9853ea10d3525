//! What a tick publishes, as a pure function of the site and the time slot:
//! two schedulers (or one restarted) that agree on the clock agree on every
//! task and every message id, so JetStream stores each task once.

use chrono::{DateTime, Utc};
use pagefeed_events::config::Pages;
use pagefeed_events::event::{Event, Retention, ALL_SITES};
use pagefeed_events::{Config, PageKey, Site, Task};

/// Slot arithmetic for a period of whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    period_secs: i64,
}

impl Slots {
    /// A period is at least one second (the config guarantees whole seconds).
    pub fn new(period: std::time::Duration) -> Slots {
        let period_secs = i64::try_from(period.as_secs()).unwrap_or(i64::MAX).max(1);
        Slots { period_secs }
    }

    /// The index of the slot `at` falls in.
    pub fn index_at(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.period_secs)
    }

    /// When slot `index` starts, unix seconds.
    pub fn start(&self, index: i64) -> i64 {
        index.saturating_mul(self.period_secs)
    }
}

/// The tasks of `site` for slot `index`: the next `batch` ids of the range,
/// cycling through `first..=last` one batch per slot (the original's Incr),
/// or every listed page.
pub fn tasks_for_slot(site: &Site, slots: Slots, index: i64) -> Vec<Task> {
    slot_tasks(site, slots, index).collect()
}

/// [`tasks_for_slot`], made one at a time: a tick is published a chunk at
/// a time, so a batch of any size costs the memory of one chunk.
pub fn slot_tasks(
    site: &Site,
    slots: Slots,
    index: i64,
) -> Box<dyn Iterator<Item = Task> + Send + '_> {
    let slot_start = slots.start(index);
    match &site.pages {
        Pages::Ids { url, first, last } => {
            let (first, url) = (*first, url.as_str());
            let count = last - first + 1;
            let batch = site.batch.min(count);
            let offset = (i128::from(index).rem_euclid(i128::from(count)) * i128::from(batch))
                % i128::from(count);
            let offset = u64::try_from(offset).unwrap_or(0);
            Box::new((0..batch).filter_map(move |j| {
                let id = (first + (offset + j) % count).to_string();
                page_task(&site.name, &id, url.replace("{id}", &id), slot_start)
            }))
        }
        Pages::List(pages) => Box::new(
            pages
                .iter()
                .filter_map(move |(id, url)| page_task(&site.name, id, url.clone(), slot_start)),
        ),
    }
}

/// Site names and page ids were validated as subject tokens with the config,
/// so the key always exists.
fn page_task(site: &str, id: &str, url: String, slot_start: i64) -> Option<Task> {
    let page = PageKey::new(site, id).ok()?;
    // The URL is there for people reading the stream (a fetcher fetches the
    // one its own config gives): never with the credentials it may carry.
    let url = pagefeed_events::redact::redact_url(&url).into_owned();
    Some(Task::new(page, url, slot_start))
}

/// The retention event of `site` for retention slot `index`: delete what was
/// observed before the slot's start minus the site's retention.
pub fn retention_for_slot(site: &Site, slots: Slots, index: i64) -> Event {
    let keep_secs = site.retention.as_secs();
    let cutoff = slots
        .start(index)
        .saturating_sub(i64::try_from(keep_secs).unwrap_or(i64::MAX));
    Event::Retention(Retention {
        site: site.name.clone(),
        cutoff: DateTime::from_timestamp(cutoff, 0).unwrap_or_default(),
        keep_secs,
        except: Vec::new(),
    })
}

/// The retention event of every site `cfg` does not name, for retention
/// slot `index`: delete what was observed before the slot's start minus the
/// longest retention of the configured sites, so that the pages and entries
/// of a site removed from the configuration (or never in it) leave the
/// replicas before their events leave the stream (design invariant 4). The
/// configured sites are listed sorted, so two schedulers publish the same
/// payload whatever order their configs list them in.
pub fn retention_of_other_sites(cfg: &Config, slots: Slots, index: i64) -> Event {
    let keep_secs = cfg.longest_retention().as_secs();
    let cutoff = slots
        .start(index)
        .saturating_sub(i64::try_from(keep_secs).unwrap_or(i64::MAX));
    let mut except: Vec<String> = cfg.sites.iter().map(|s| s.name.clone()).collect();
    except.sort_unstable();
    except.dedup();
    Event::Retention(Retention {
        site: ALL_SITES.to_owned(),
        cutoff: DateTime::from_timestamp(cutoff, 0).unwrap_or_default(),
        keep_secs,
        except,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn site(first: u64, last: u64, batch: u64) -> Site {
        let text = format!(
            "[[site]]\nname = \"s\"\nurl = \"http://x/?id={{id}}\"\nids = {{ first = {first}, last = {last} }}\n\
             batch = {batch}\ninterval = \"10s\"\nretention = \"7d\"\n[site.extract]\nentry = \"div\"\n"
        );
        pagefeed_events::Config::parse(std::path::Path::new("t.toml"), &text)
            .unwrap()
            .sites
            .remove(0)
    }

    fn ids(tasks: &[Task]) -> Vec<u64> {
        tasks.iter().map(|t| t.page.id().parse().unwrap()).collect()
    }

    #[test]
    fn batches_cycle_through_the_range() {
        let s = site(1, 10, 4);
        let slots = Slots::new(Duration::from_secs(10));
        let mut seen = BTreeSet::new();
        let mut next_expected = None;
        for index in 1000..1003 {
            let batch = ids(&tasks_for_slot(&s, slots, index));
            assert_eq!(batch.len(), 4);
            if let Some(expected) = next_expected {
                assert_eq!(
                    batch[0], expected,
                    "slot {index} continues the previous one"
                );
            }
            next_expected = Some(batch[3] % 10 + 1);
            seen.extend(batch);
        }
        assert_eq!(seen, (1..=10).collect());
    }

    #[test]
    fn a_task_never_carries_the_credentials_of_its_url() {
        let text = "[[site]]\nname = \"s\"\nurl = \"https://me:hunter2@x/?id={id}\"\n\
                    ids = { first = 1, last = 2 }\ninterval = \"10s\"\nretention = \"7d\"\n\
                    [site.extract]\nentry = \"div\"\n";
        let s = pagefeed_events::Config::parse(std::path::Path::new("t.toml"), text)
            .unwrap()
            .sites
            .remove(0);
        let tasks = tasks_for_slot(&s, Slots::new(Duration::from_secs(10)), 1);
        assert_eq!(tasks[0].url, "https://x/?id=1");
        assert!(!String::from_utf8_lossy(&tasks[0].encode()).contains("hunter2"));
    }

    #[test]
    fn a_batch_of_the_whole_range_is_the_whole_range_in_order() {
        let s = site(5, 9, 5);
        let slots = Slots::new(Duration::from_secs(10));
        assert_eq!(ids(&tasks_for_slot(&s, slots, 77)), vec![5, 6, 7, 8, 9]);
    }

    #[test]
    fn slot_tasks_are_deterministic() {
        let s = site(1, 500, 100);
        let slots = Slots::new(Duration::from_secs(10));
        let a = tasks_for_slot(&s, slots, 176_400_000);
        let b = tasks_for_slot(&s, slots, 176_400_000);
        assert_eq!(a, b);
        assert_eq!(a[0].slot, 1_764_000_000);
        assert_eq!(
            a[0].msg_id(),
            format!("task:s.{}:1764000000", a[0].page.id())
        );
    }

    #[test]
    fn retention_cutoff_is_slot_start_minus_retention() {
        let s = site(1, 2, 1);
        let slots = Slots::new(Duration::from_secs(3600));
        let Event::Retention(r) = retention_for_slot(&s, slots, 490_000) else {
            panic!("not a retention event")
        };
        assert_eq!(r.cutoff.timestamp(), 490_000 * 3600 - 7 * 86400);
        assert_eq!(r.keep_secs, 7 * 86400);
        assert!(r.except.is_empty());
    }

    #[test]
    fn other_sites_go_after_the_longest_retention() {
        let site = |name: &str, retention: &str| {
            format!(
                "[[site]]\nname = \"{name}\"\nurl = \"http://x/?id={{id}}\"\nids = {{ first = 1, last = 2 }}\n\
                 interval = \"10s\"\nretention = \"{retention}\"\n[site.extract]\nentry = \"div\"\n"
            )
        };
        let text = format!("{}{}", site("zeta", "30d"), site("alpha", "7d"));
        let cfg = Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        let slots = Slots::new(Duration::from_secs(3600));
        let event = retention_of_other_sites(&cfg, slots, 490_000);
        assert_eq!(event, retention_of_other_sites(&cfg, slots, 490_000));
        assert_eq!(
            event.msg_id(),
            format!("retention:*:{}", 490_000 * 3600 - 30 * 86400)
        );
        let Event::Retention(r) = event else {
            panic!("not a retention event")
        };
        assert_eq!(r.site, "*");
        assert_eq!(r.except, ["alpha", "zeta"]);
        assert_eq!(r.cutoff.timestamp(), 490_000 * 3600 - 30 * 86400);
        assert!(r.covers("gone") && !r.covers("alpha") && !r.covers("zeta"));
    }
}
