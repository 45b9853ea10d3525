//! Names on the wire: page keys, stream names, subjects and message ids.
//! Every subject carries the page key so that `nats stream view --subject`
//! and `nats sub` can pick out one site or one page.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The stream of crawl tasks (work queue, shared by every fetcher).
pub const TASKS_STREAM: &str = "PAGEFEED_TASKS";
/// The stream of observations, the log every projector replays.
pub const EVENTS_STREAM: &str = "PAGEFEED_EVENTS";
/// All task subjects.
pub const TASKS_SUBJECTS: &str = "pagefeed.tasks.>";
/// All event subjects.
pub const EVENTS_SUBJECTS: &str = "pagefeed.events.>";

/// Whether `s` is usable as a site name, a page id or any one subject token:
/// `[a-z0-9_-]+`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A page's identity: its site and its id within the site, written
/// `site.id` (e.g. `sample.42`), exactly the last two tokens of its subjects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageKey {
    site: String,
    id: String,
}

/// A string that is not a page key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a page key (<site>.<id>, each [a-z0-9_-]+)")]
pub struct BadPageKey(pub String);

impl PageKey {
    /// A key from its parts, if both are valid tokens.
    pub fn new(site: &str, id: &str) -> Result<PageKey, BadPageKey> {
        if is_token(site) && is_token(id) {
            Ok(PageKey {
                site: site.to_owned(),
                id: id.to_owned(),
            })
        } else {
            Err(BadPageKey(format!("{site}.{id}")))
        }
    }

    pub fn site(&self) -> &str {
        &self.site
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for PageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.site, self.id)
    }
}

impl FromStr for PageKey {
    type Err = BadPageKey;

    fn from_str(s: &str) -> Result<PageKey, BadPageKey> {
        let (site, id) = s.split_once('.').ok_or_else(|| BadPageKey(s.to_owned()))?;
        PageKey::new(site, id).map_err(|_| BadPageKey(s.to_owned()))
    }
}

impl Serialize for PageKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PageKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PageKey, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `pagefeed.tasks.<site>.<id>`
pub fn task_subject(page: &PageKey) -> String {
    format!("pagefeed.tasks.{}.{}", page.site, page.id)
}

/// `pagefeed.events.<type>.<site>.<id>`
pub fn event_subject(event_type: &str, page: &PageKey) -> String {
    format!("pagefeed.events.{event_type}.{}.{}", page.site, page.id)
}

/// `pagefeed.events.retention.<site>`: a retention event concerns a whole site.
pub fn retention_subject(site: &str) -> String {
    format!("pagefeed.events.retention.{site}")
}

/// The `Nats-Msg-Id` of the task for `page` in the time slot starting at
/// `slot_start` (unix seconds): two schedulers derive the same id, so
/// JetStream stores the task once.
pub fn task_msg_id(page: &PageKey, slot_start: i64) -> String {
    format!("task:{page}:{slot_start}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_key_round_trips() {
        let key: PageKey = "sample.42".parse().unwrap();
        assert_eq!(key.site(), "sample");
        assert_eq!(key.id(), "42");
        assert_eq!(key.to_string(), "sample.42");
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            "\"sample.42\"".to_owned()
        );
    }

    #[test]
    fn bad_page_keys_are_refused() {
        for bad in [
            "sample",
            "sample.",
            ".42",
            "Sample.42",
            "a.b.c",
            "a.b c",
            "a.>",
        ] {
            assert!(bad.parse::<PageKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects_carry_the_page_key() {
        let key = PageKey::new("sample", "42").unwrap();
        assert_eq!(task_subject(&key), "pagefeed.tasks.sample.42");
        assert_eq!(
            event_subject("page_crawled", &key),
            "pagefeed.events.page_crawled.sample.42"
        );
        assert_eq!(
            task_msg_id(&key, 1_764_000_000),
            "task:sample.42:1764000000"
        );
    }
}
