//! One entry as read from its element: its text, timestamp and link by the
//! site's selectors, and its id, a hash of its markup.

use chrono::{DateTime, Utc};
use pagefeed_events::event::content_id;
use pagefeed_events::limits::MAX_URL_BYTES;
use scraper::ElementRef;
use serde::Serialize;

use super::link::absolute;
use super::text::normalized_text;
use super::timestamp::{parse_timestamp, MAX_TIMESTAMP_TEXT_BYTES};
use super::tree::find_under;
use super::Extractor;
use crate::deadline::{Deadline, Expired};

/// One entry of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// [`content_id`] of the entry's markup as scraper serialises it: the
    /// same entry gives the same id in every process, whatever the page's
    /// charset; any change to its markup gives a new id.
    pub id: String,
    /// Whitespace-normalised, at most `max_entry_text_bytes`.
    pub text: String,
    /// Read with the site's `timestamp_format` as local time in the site's
    /// `timezone` (unless the format has an offset), converted to UTC;
    /// `None` when the entry has none or it does not parse.
    pub timestamp: Option<DateTime<Utc>>,
    /// The link's `href`, absolute; `None` when longer than
    /// [`MAX_URL_BYTES`].
    pub link: Option<String>,
}

impl Extractor {
    /// Reads the entry `element`: links resolve against `base`, timestamps
    /// without a year get one from `now` (see [`parse_timestamp`]).
    pub(super) fn entry(
        &self,
        element: ElementRef<'_>,
        base: Option<&url::Url>,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Entry, Expired> {
        let max_text = self.limits.max_entry_text_bytes;
        let text = match &self.text {
            Some(sel) => find_under(*element, Some(element), sel, deadline, Some)?
                .map(|text| normalized_text(text, max_text))
                .unwrap_or_default(),
            None => normalized_text(element, max_text),
        };
        let timestamp = match &self.timestamp {
            Some((sel, items)) => find_under(*element, Some(element), sel, deadline, Some)?
                .and_then(|shown| {
                    let shown = normalized_text(shown, MAX_TIMESTAMP_TEXT_BYTES);
                    parse_timestamp(&shown, items, self.zone, now)
                }),
            None => None,
        };
        let link = match &self.link {
            Some(sel) => find_under(*element, Some(element), sel, deadline, |a| {
                a.value().attr("href")
            })?
            .and_then(|href| absolute(href, base))
            .filter(|link| link.len() <= MAX_URL_BYTES),
            None => None,
        };
        Ok(Entry {
            id: content_id(element.html().as_bytes()),
            text,
            timestamp,
            link,
        })
    }
}
