//! The events of `PAGEFEED_EVENTS`: every observation a fetcher makes and every
//! deletion the scheduler orders. Upserts carry the full record and deletions
//! are explicit, so a replica is a function of the log (design invariant 1).
//!
//! On the wire an event is one JSON object: `{"v": 1, "type": "...", "page":
//! "site.id", ...}`, published on `pagefeed.events.<type>.<site>.<id>` with a
//! `Nats-Msg-Id` derived from its content.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::subject::{event_subject, retention_subject, PageKey};

/// Schema version of events; a projector records any other version as rejected.
const EVENT_VERSION: u32 = 1;

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A page was fetched and had new or changed entries (published with
    /// one `EntryObserved` per such entry).
    PageCrawled(PageRecord),
    EntryObserved(EntryObserved),
    /// A page was fetched and every entry was already known.
    PageUnchanged(PageRecord),
    FetchFailed(FetchFailed),
    Retention(Retention),
}

/// What a replica keeps of a page, carried whole by every successful crawl
/// (changed or not), so a replica rebuilt from a short log still has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRecord {
    pub page: PageKey,
    pub url: String,
    pub title: String,
    pub crawled_at: DateTime<Utc>,
    /// HTTP status of the fetch: 200, or 304 when the site answered a
    /// conditional GET.
    pub status: u16,
    /// How many entries the page showed.
    pub entries: u32,
}

/// One new or changed entry of a page: the full entry record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryObserved {
    pub page: PageKey,
    /// Stable hash of the entry's markup, hex ([`content_id`]).
    pub id: String,
    pub text: String,
    /// The entry's own timestamp, when the page shows one.
    pub timestamp: Option<DateTime<Utc>>,
    /// Absolute URL of the entry's link, when it has one.
    pub link: Option<String>,
    pub observed_at: DateTime<Utc>,
    /// Seen on the first crawl of its page (the fetch state knew nothing
    /// of the page): part of what the page already showed, not news, so no
    /// notification is sent for it. Absent from the JSON when false, and
    /// an event without it counts as not first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_crawl: bool,
}

/// Every `fetch_failed` reason the services write, for counting by reason
/// with a bounded set of labels: any other counts as the last, `other`.
pub const FETCH_FAILURE_REASONS: [&str; 22] = [
    "timeout",
    "dns",
    "connect",
    "http_status",
    "too_large",
    "too_many_redirects",
    "blocked_redirect",
    "blocked_address",
    "bad_url",
    "undecodable",
    "no_entries",
    "parse_timeout",
    "bad_task",
    "unknown_site",
    "unknown_page",
    "state",
    "robots_disallowed",
    "robots_unavailable",
    "expired",
    "max_deliver",
    "stranded",
    "other",
];

/// The index of `reason` in [`FETCH_FAILURE_REASONS`] (`other` if unknown).
pub fn fetch_failure_slot(reason: &str) -> usize {
    FETCH_FAILURE_REASONS
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(FETCH_FAILURE_REASONS.len() - 1)
}

/// A task that kept failing: the end of its story, never a silent drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchFailed {
    pub page: PageKey,
    pub url: String,
    pub failed_at: DateTime<Utc>,
    /// A short code: `timeout`, `dns`, `connect`, `http_status`, `too_large`
    /// (the body, or an event too large to publish), `too_many_redirects`,
    /// `undecodable`, `no_entries`, `bad_url`, `other`; and, after a single
    /// attempt, `blocked_redirect` (a redirect the site's address policy
    /// refuses: another host on a non-global address, https to http),
    /// `blocked_address` (a host resolving only to such addresses),
    /// `bad_task` (a task whose subject and page disagree, or that does not
    /// decode), `unknown_site` and `unknown_page` (a task naming what the
    /// configuration does not have), `robots_disallowed` (the host's
    /// robots.txt disallows the page for the fetcher's user agent; never
    /// retried); after every attempt, `robots_unavailable` (the host's
    /// robots.txt answered a server error or 429, which RFC 9309 takes as
    /// "disallow everything" until the file is asked for again); and, from
    /// the scheduler's task sweeper
    /// (`attempts` 0 unless known), `expired` (no fetcher took the task
    /// within `task_ttl`), `max_deliver` (delivered `max_deliver` times and
    /// never settled), `stranded` (left behind the fetchers' consumer, and
    /// put back in the queue too many times).
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// HTTP status, when the server answered.
    pub status: Option<u16>,
    /// How many attempts were made.
    pub attempts: u32,
}

/// Delete a site's entries first observed before `cutoff`, and its pages last
/// crawled before `cutoff` (design invariant 4). The scheduler computes the
/// cutoff, so every replica deletes the same things at the same point.
///
/// With `site` [`ALL_SITES`] it covers every site except those in `except`
/// (the configured ones, each with its own retention event), so that the
/// pages and entries of a site no longer (or never) configured are deleted
/// too. A replica's times are bounded by when JetStream stored the event
/// that brought them, so whatever an event claims, every row is covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// A site name, or [`ALL_SITES`].
    pub site: String,
    pub cutoff: DateTime<Utc>,
    /// The site's retention window in seconds, for operators reading the log.
    pub keep_secs: u64,
    /// With [`ALL_SITES`], the sites left out. Absent from the JSON when
    /// empty, so a one-site retention reads as it always has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// The `site` of a retention event that covers every site but its `except`
/// list.
pub const ALL_SITES: &str = "*";

/// The last token of the subject of a retention event for [`ALL_SITES`]
/// (`*` is a wildcard in a subject): upper case, so no site name (`[a-z0-9_-]+`)
/// can take it, and under `pagefeed.events.retention.>` with the others.
const ALL_SITES_TOKEN: &str = "ALL";

impl Retention {
    /// Whether the event deletes rows of `site`.
    pub fn covers(&self, site: &str) -> bool {
        if self.site == ALL_SITES {
            !self.except.iter().any(|s| s == site)
        } else {
            self.site == site
        }
    }
}

/// Why a payload is not an event (or a task) this code understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON object with a numeric \"v\"")]
    MissingVersion,
    #[error("unsupported schema version {0}")]
    UnsupportedVersion(u64),
    #[error("unknown type \"{0}\"")]
    UnknownType(String),
    #[error("invalid payload: {0}")]
    Invalid(String),
}

#[derive(Serialize)]
struct Envelope<'a> {
    v: u32,
    #[serde(flatten)]
    event: &'a Event,
}

impl Event {
    /// The `type` field and the third token of the subject.
    fn type_name(&self) -> &'static str {
        match self {
            Event::PageCrawled(_) => "page_crawled",
            Event::EntryObserved(_) => "entry_observed",
            Event::PageUnchanged(_) => "page_unchanged",
            Event::FetchFailed(_) => "fetch_failed",
            Event::Retention(_) => "retention",
        }
    }

    /// The page the event is about (none for a site-wide retention event).
    pub fn page(&self) -> Option<&PageKey> {
        match self {
            Event::PageCrawled(PageRecord { page, .. })
            | Event::EntryObserved(EntryObserved { page, .. })
            | Event::PageUnchanged(PageRecord { page, .. })
            | Event::FetchFailed(FetchFailed { page, .. }) => Some(page),
            Event::Retention(_) => None,
        }
    }

    pub fn subject(&self) -> String {
        match (self, self.page()) {
            (Event::Retention(r), _) if r.site == ALL_SITES => retention_subject(ALL_SITES_TOKEN),
            (Event::Retention(r), _) => retention_subject(&r.site),
            (_, Some(page)) => event_subject(self.type_name(), page),
            (_, None) => format!("pagefeed.events.{}", self.type_name()),
        }
    }

    /// The JSON payload, with the schema version.
    pub fn encode(&self) -> Vec<u8> {
        let envelope = Envelope {
            v: EVENT_VERSION,
            event: self,
        };
        serde_json::to_vec(&envelope)
            .expect("an event (strings, integers and timestamps) always serialises")
    }

    /// The `Nats-Msg-Id`, derived from content so that the same observation
    /// published twice (a fetcher killed after publishing, before acking) is
    /// stored once: an entry by its id (the hash of its markup), whenever it
    /// was observed; other events by type, page and a hash of the payload.
    pub fn msg_id(&self) -> String {
        match (self, self.page()) {
            (Event::Retention(r), _) => format!("retention:{}:{}", r.site, r.cutoff.timestamp()),
            (Event::EntryObserved(e), _) => format!("entry_observed:{}:{}", e.page, e.id),
            (_, Some(page)) => {
                format!("{}:{page}:{}", self.type_name(), content_id(&self.encode()))
            }
            (_, None) => content_id(&self.encode()),
        }
    }

    /// Decodes an event, refusing other schema versions and unknown types.
    /// An event in this crate's own key order is read in one pass (see
    /// `in_order`); any other payload has its version and type read first
    /// (every other field skipped), then the payload straight into the
    /// type's struct, with no intermediate JSON tree: this runs once per
    /// event on every replica.
    pub fn decode(payload: &[u8]) -> Result<Event, DecodeError> {
        if let Some(event) = in_order::decode(payload) {
            return Ok(event);
        }
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            v: Option<serde_json::Value>,
            #[serde(default, rename = "type")]
            kind: Option<serde_json::Value>,
        }
        let head: Head =
            serde_json::from_slice(payload).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        let v = head
            .v
            .and_then(|v| v.as_u64())
            .ok_or(DecodeError::MissingVersion)?;
        if v != u64::from(EVENT_VERSION) {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        let kind = match head.kind {
            Some(serde_json::Value::String(kind)) => kind,
            _ => return Err(DecodeError::Invalid("missing \"type\"".to_owned())),
        };
        fn body<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, DecodeError> {
            serde_json::from_slice(payload).map_err(|e| DecodeError::Invalid(e.to_string()))
        }
        match kind.as_str() {
            "page_crawled" => body(payload).map(Event::PageCrawled),
            "entry_observed" => body(payload).map(Event::EntryObserved),
            "page_unchanged" => body(payload).map(Event::PageUnchanged),
            "fetch_failed" => body(payload).map(Event::FetchFailed),
            "retention" => body(payload).map(Event::Retention),
            _ => Err(DecodeError::UnknownType(kind)),
        }
    }
}

/// Decoding an event as [`Event::encode`] writes it, `"v"` and `"type"`
/// first, in one pass: the rest of the object is read straight into the
/// type's struct. The general path reads the payload twice (the version and
/// type, then the body), on every replica for every event (its cost:
/// docs/BENCHMARKS.md, "Projector"). Anything else (another order, another
/// version, `"v"` or `"type"` twice, a key or type with escapes, a field
/// that does not fit) gives `None`, and the general path decodes or refuses
/// it with its own error.
mod in_order {
    use std::fmt;

    use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
    use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
    use serde::Deserialize;

    use super::{Event, EVENT_VERSION};

    pub fn decode(payload: &[u8]) -> Option<Event> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let event = de.deserialize_map(InOrder).ok()?;
        de.end().ok()?;
        Some(event)
    }

    struct InOrder;

    impl<'de> Visitor<'de> for InOrder {
        type Value = Event;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an event object starting with \"v\" and \"type\"")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
            let out_of_order = || A::Error::custom("not in this crate's order");
            if map.next_key::<&'de str>()? != Some("v") {
                return Err(out_of_order());
            }
            if map.next_value::<u64>()? != u64::from(EVENT_VERSION) {
                return Err(out_of_order());
            }
            if map.next_key::<&'de str>()? != Some("type") {
                return Err(out_of_order());
            }
            let kind: &'de str = map.next_value()?;
            let body = MapAccessDeserializer::new(Body(map));
            match kind {
                "page_crawled" => Deserialize::deserialize(body).map(Event::PageCrawled),
                "entry_observed" => Deserialize::deserialize(body).map(Event::EntryObserved),
                "page_unchanged" => Deserialize::deserialize(body).map(Event::PageUnchanged),
                "fetch_failed" => Deserialize::deserialize(body).map(Event::FetchFailed),
                "retention" => Deserialize::deserialize(body).map(Event::Retention),
                _ => Err(out_of_order()),
            }
        }
    }

    /// The rest of the object, refusing a second `"v"` or `"type"` (which
    /// the general path refuses as a duplicate field).
    struct Body<A>(A);

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Body<A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            match self.0.next_key::<&'de str>()? {
                None => Ok(None),
                Some(key) if key == "v" || key == "type" => {
                    Err(A::Error::custom(format!("a second \"{key}\"")))
                }
                Some(key) => seed
                    .deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some),
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.0.next_value_seed(seed)
        }
    }
}

/// Parses JSON and checks its `"v"` before anything else, so a newer schema is
/// reported as such rather than as a confusing field error.
pub(crate) fn versioned_json(
    payload: &[u8],
    version: u32,
) -> Result<serde_json::Value, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let v = value
        .get("v")
        .and_then(|v| v.as_u64())
        .ok_or(DecodeError::MissingVersion)?;
    if v != u64::from(version) {
        return Err(DecodeError::UnsupportedVersion(v));
    }
    Ok(value)
}

/// A stable content hash, hex: the first 128 bits of SHA-256. The same bytes
/// give the same id in every process and every run.
pub fn content_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(32);
    for byte in &digest[..16] {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn entry() -> Event {
        Event::EntryObserved(EntryObserved {
            page: "sample.42".parse().unwrap(),
            id: "ab12".into(),
            text: "今日は渋谷でラーメン".into(),
            timestamp: Some(at("2026-02-13T16:45:00Z")),
            link: Some("http://127.0.0.1:8700/view_entry?page_id=42&entry=1".into()),
            observed_at: at("2026-11-24T03:00:00Z"),
            first_crawl: false,
        })
    }

    #[test]
    fn event_json_is_plain_and_versioned() {
        let json: serde_json::Value = serde_json::from_slice(&entry().encode()).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["type"], "entry_observed");
        assert_eq!(json["page"], "sample.42");
        assert_eq!(json["text"], "今日は渋谷でラーメン");
        assert_eq!(
            entry().subject(),
            "pagefeed.events.entry_observed.sample.42"
        );
    }

    #[test]
    fn events_round_trip() {
        let page = PageRecord {
            page: "sample.42".parse().unwrap(),
            url: "http://127.0.0.1:8700/recent_page_feed?page_id=42".into(),
            title: "ユーザー42さんの最近の日記".into(),
            crawled_at: at("2026-11-24T03:00:00Z"),
            status: 304,
            entries: 20,
        };
        let events = [
            entry(),
            Event::PageCrawled(page.clone()),
            Event::PageUnchanged(page),
            Event::Retention(Retention {
                site: "sample".into(),
                cutoff: at("2026-11-17T00:00:00Z"),
                keep_secs: 7 * 86400,
                except: Vec::new(),
            }),
            Event::Retention(Retention {
                site: ALL_SITES.into(),
                cutoff: at("2026-11-10T00:00:00Z"),
                keep_secs: 14 * 86400,
                except: vec!["sample".into(), "other".into()],
            }),
            Event::FetchFailed(FetchFailed {
                page: "sample.13".parse().unwrap(),
                url: "http://x".into(),
                failed_at: at("2026-11-24T03:00:00Z"),
                reason: "http_status".into(),
                detail: "404 Not Found".into(),
                status: Some(404),
                attempts: 5,
            }),
        ];
        for e in events {
            assert_eq!(in_order::decode(&e.encode()), Some(e.clone()), "one pass");
            assert_eq!(Event::decode(&e.encode()).unwrap(), e);
        }
    }

    #[test]
    fn first_crawl_is_false_unless_said_and_written_only_when_true() {
        // An event written before the field existed reads as not first.
        let old = br#"{"v":1,"type":"entry_observed","page":"sample.42","id":"ab12","text":"t","timestamp":null,"link":null,"observed_at":"2026-11-24T03:00:00Z"}"#;
        let Ok(Event::EntryObserved(e)) = Event::decode(old) else {
            panic!("an event without first_crawl decodes")
        };
        assert!(!e.first_crawl);
        // Not first: written exactly as before the field existed.
        assert_eq!(Event::EntryObserved(e.clone()).encode(), old.to_vec());
        let first = Event::EntryObserved(EntryObserved {
            first_crawl: true,
            ..e
        });
        let json: serde_json::Value = serde_json::from_slice(&first.encode()).unwrap();
        assert_eq!(json["first_crawl"], true);
        assert_eq!(in_order::decode(&first.encode()), Some(first.clone()));
        assert_eq!(Event::decode(&first.encode()).unwrap(), first);
        // The same entry, whatever the flag: one message id.
        assert_eq!(first.msg_id(), "entry_observed:sample.42:ab12");
    }

    #[test]
    fn another_key_order_takes_the_general_path() {
        let e = entry();
        let mut json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&e.encode()).unwrap();
        let v = json.remove("v").unwrap();
        json.insert("v".into(), v); // now last
        let reordered = serde_json::to_vec(&json).unwrap();
        assert_eq!(in_order::decode(&reordered), None);
        assert_eq!(Event::decode(&reordered).unwrap(), e);
        // Escaped keys and type names are the general path's too.
        let escaped = String::from_utf8(e.encode()).unwrap().replace(
            r#""type":"entry_observed""#,
            r#""type":"entry\u005fobserved""#,
        );
        assert_eq!(in_order::decode(escaped.as_bytes()), None);
        assert_eq!(Event::decode(escaped.as_bytes()).unwrap(), e);
    }

    #[test]
    fn a_second_version_or_type_is_refused_both_ways() {
        let json = String::from_utf8(entry().encode()).unwrap();
        for extra in [r#","v":999}"#, r#","type":"retention"}"#] {
            let twice = format!("{}{extra}", &json[..json.len() - 1]);
            assert_eq!(in_order::decode(twice.as_bytes()), None, "{twice}");
            assert!(Event::decode(twice.as_bytes()).is_err(), "{twice}");
        }
    }

    #[test]
    fn a_one_site_retention_reads_and_writes_as_in_v1() {
        let v1 = br#"{"v":1,"type":"retention","site":"sample","cutoff":"2026-11-17T00:00:00Z","keep_secs":604800}"#;
        let Ok(Event::Retention(r)) = Event::decode(v1) else {
            panic!("a v1 retention event decodes")
        };
        assert!(r.except.is_empty());
        assert_eq!(Event::Retention(r.clone()).encode(), v1.to_vec());
        assert_eq!(
            Event::Retention(r).subject(),
            "pagefeed.events.retention.sample"
        );
    }

    #[test]
    fn a_retention_of_every_other_site_names_them() {
        let r = Retention {
            site: ALL_SITES.into(),
            cutoff: at("2026-11-10T00:00:00Z"),
            keep_secs: 14 * 86400,
            except: vec!["sample".into(), "other".into()],
        };
        assert!(r.covers("gone") && !r.covers("sample") && !r.covers("other"));
        let one = Retention {
            site: "sample".into(),
            except: Vec::new(),
            ..r.clone()
        };
        assert!(one.covers("sample") && !one.covers("gone"));
        let event = Event::Retention(r);
        let json: serde_json::Value = serde_json::from_slice(&event.encode()).unwrap();
        assert_eq!(json["site"], "*");
        assert_eq!(json["except"], serde_json::json!(["sample", "other"]));
        assert_eq!(event.subject(), "pagefeed.events.retention.ALL");
        assert_eq!(event.msg_id(), "retention:*:1794268800");
    }

    #[test]
    fn msg_id_follows_content() {
        let a = entry();
        let mut b = entry();
        if let Event::EntryObserved(e) = &mut b {
            e.observed_at = at("2026-11-24T04:00:00Z");
        }
        assert_eq!(a.msg_id(), b.msg_id(), "the same entry seen again");
        if let Event::EntryObserved(e) = &mut b {
            e.id = "cd34".into();
        }
        assert_ne!(a.msg_id(), b.msg_id(), "a changed entry has a new id");
        assert_eq!(a.msg_id(), "entry_observed:sample.42:ab12");
        let page = |title: &str| {
            Event::PageCrawled(PageRecord {
                page: "sample.42".parse().unwrap(),
                url: "u".into(),
                title: title.into(),
                crawled_at: at("2026-11-24T03:00:00Z"),
                status: 200,
                entries: 1,
            })
        };
        assert_eq!(page("t").msg_id(), page("t").msg_id());
        assert_ne!(page("t").msg_id(), page("u").msg_id());
        assert!(page("t").msg_id().starts_with("page_crawled:sample.42:"));
    }

    #[test]
    fn undecodable_payloads_say_why() {
        assert!(matches!(
            Event::decode(b"garbage"),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(
            Event::decode(br#"{"type":"page_crawled"}"#),
            Err(DecodeError::MissingVersion)
        );
        assert_eq!(
            Event::decode(br#"{"v":999,"type":"page_crawled"}"#),
            Err(DecodeError::UnsupportedVersion(999))
        );
        assert_eq!(
            Event::decode(br#"{"v":1,"type":"page_exploded"}"#),
            Err(DecodeError::UnknownType("page_exploded".into()))
        );
        assert!(matches!(
            Event::decode(br#"{"v":1,"type":"page_crawled","page":"nope"}"#),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn content_id_is_stable() {
        assert_eq!(content_id(b"abc"), "ba7816bf8f01cfea414140de5dae2223");
    }
}
