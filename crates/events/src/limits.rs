//! The most an event may hold, field by field. A fetcher never publishes an
//! event over these limits (its own caps are validated against them), and a
//! projector records any event over them as rejected, so whatever a
//! publisher sends, a replica's rows stay bounded (design invariant 6).
//! docs/SECURITY.md lists them for operators.

use crate::event::{EntryObserved, Event, FetchFailed, PageRecord, Retention};

/// A page key, `site.id`.
const MAX_PAGE_KEY_BYTES: usize = 256;
/// An entry id ([`crate::event::content_id`] gives 32 hex characters).
const MAX_ENTRY_ID_BYTES: usize = 64;
/// A page URL or an entry link.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// An entry's text.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// A page's title.
pub const MAX_TITLE_BYTES: usize = 4 * 1024;
/// A failure's reason code.
const MAX_REASON_BYTES: usize = 64;
/// A failure's human-readable detail.
pub const MAX_DETAIL_BYTES: usize = 4 * 1024;
/// A site name in a retention event, and each site it names.
const MAX_SITE_BYTES: usize = 128;
/// How many sites a retention event may name.
const MAX_RETENTION_SITES: usize = 10_000;
/// A whole event payload: nats-server's default `max_payload` (1 MiB).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Why an event is over the limits: which field, its size and the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` is {bytes} bytes, over the limit of {limit}")]
pub struct OverLimit {
    pub field: &'static str,
    pub bytes: usize,
    pub limit: usize,
}

fn check(field: &'static str, bytes: usize, limit: usize) -> Result<(), OverLimit> {
    if bytes > limit {
        Err(OverLimit {
            field,
            bytes,
            limit,
        })
    } else {
        Ok(())
    }
}

impl Event {
    /// Checks every field against the limits above; the payload's own size
    /// is the reader's to check ([`MAX_EVENT_BYTES`]).
    pub fn check_limits(&self) -> Result<(), OverLimit> {
        match self {
            Event::PageCrawled(r) | Event::PageUnchanged(r) => page_record(r),
            Event::EntryObserved(e) => entry(e),
            Event::FetchFailed(f) => failure(f),
            Event::Retention(r) => retention(r),
        }
    }
}

fn page_key(page: &crate::PageKey) -> Result<(), OverLimit> {
    let site = page.site().len();
    let id = page.id().len();
    check("page", site + 1 + id, MAX_PAGE_KEY_BYTES)
}

fn page_record(r: &PageRecord) -> Result<(), OverLimit> {
    page_key(&r.page)?;
    check("url", r.url.len(), MAX_URL_BYTES)?;
    check("title", r.title.len(), MAX_TITLE_BYTES)
}

fn entry(e: &EntryObserved) -> Result<(), OverLimit> {
    page_key(&e.page)?;
    check("id", e.id.len(), MAX_ENTRY_ID_BYTES)?;
    check("text", e.text.len(), MAX_TEXT_BYTES)?;
    check(
        "link",
        e.link.as_ref().map_or(0, String::len),
        MAX_URL_BYTES,
    )
}

fn failure(f: &FetchFailed) -> Result<(), OverLimit> {
    page_key(&f.page)?;
    check("url", f.url.len(), MAX_URL_BYTES)?;
    check("reason", f.reason.len(), MAX_REASON_BYTES)?;
    check("detail", f.detail.len(), MAX_DETAIL_BYTES)
}

fn retention(r: &Retention) -> Result<(), OverLimit> {
    check("site", r.site.len(), MAX_SITE_BYTES)?;
    check("except", r.except.len(), MAX_RETENTION_SITES)?;
    for site in &r.except {
        check("except", site.len(), MAX_SITE_BYTES)?;
    }
    Ok(())
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate_to(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn entry_with_text(text: String) -> Event {
        Event::EntryObserved(EntryObserved {
            page: "s.1".parse().unwrap(),
            id: "0".repeat(32),
            text,
            timestamp: None,
            link: None,
            observed_at: Utc::now(),
            first_crawl: false,
        })
    }

    #[test]
    fn a_text_at_the_limit_passes_and_one_byte_more_does_not() {
        assert_eq!(
            entry_with_text("a".repeat(MAX_TEXT_BYTES)).check_limits(),
            Ok(())
        );
        let err = entry_with_text("a".repeat(MAX_TEXT_BYTES + 1))
            .check_limits()
            .unwrap_err();
        assert_eq!((err.field, err.bytes), ("text", MAX_TEXT_BYTES + 1));
    }

    #[test]
    fn a_retention_names_a_bounded_list_of_short_sites() {
        let retention = |except: Vec<String>| {
            Event::Retention(Retention {
                site: crate::event::ALL_SITES.into(),
                cutoff: Utc::now(),
                keep_secs: 0,
                except,
            })
        };
        assert_eq!(
            retention(vec!["s".into(); MAX_RETENTION_SITES]).check_limits(),
            Ok(())
        );
        let err = retention(vec!["s".into(); MAX_RETENTION_SITES + 1])
            .check_limits()
            .unwrap_err();
        assert_eq!(err.field, "except");
        let err = retention(vec!["s".repeat(MAX_SITE_BYTES + 1)])
            .check_limits()
            .unwrap_err();
        assert_eq!((err.field, err.bytes), ("except", MAX_SITE_BYTES + 1));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut s = "渋谷".to_owned(); // 6 bytes
        truncate_to(&mut s, 4);
        assert_eq!(s, "渋");
        let mut s = "abc".to_owned();
        truncate_to(&mut s, 10);
        assert_eq!(s, "abc");
    }
}
