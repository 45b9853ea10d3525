//! What an event's apply can do before the write transaction: decode it,
//! check it against the limits, and for an observed entry build its row,
//! its row's hash and its search grams. None of it reads the file, so a
//! [`Prepared`] batch can be made on one thread while the apply thread
//! writes the one before it ([`Store::apply_prepared`]); `rebuild` does
//! that, and [`Store::apply_batch`] prepares and applies on one thread.

use std::ops::Range;

use chrono::{DateTime, Utc};
use pagefeed_events::event::{EntryObserved, FetchFailed, PageRecord, Retention};
use pagefeed_events::{limits, Event};

use super::digest::entry_hash;
use super::rows::{EntryView, Rejected};
use super::search::{text_grams, Gram};
use super::{Logged, Store, REJECTED_PAYLOAD_MAX};

/// A batch of events decoded and checked, ready for
/// [`Store::apply_prepared`]. It owns what it holds: it may be made on
/// another thread than the one that applies it.
#[derive(Debug, Default)]
pub struct Prepared {
    pub(super) events: Vec<PreparedEvent>,
    /// The grams of the batch's entries, each entry's in its range.
    pub(super) grams: Vec<Gram>,
}

#[derive(Debug)]
pub(super) struct PreparedEvent {
    pub(super) seq: u64,
    pub(super) published: DateTime<Utc>,
    pub(super) what: What,
}

/// An event as the apply takes it.
#[derive(Debug)]
pub(super) enum What {
    /// An observed entry, as a new entry's row would hold it.
    Entry(NewEntry),
    /// A page crawled, or unchanged.
    Page(PageRecord),
    Failed(FetchFailed),
    /// A retention event, with its payload cut as `rejected` keeps it: the
    /// apply may still refuse it.
    Retention(Retention, String),
    /// Not applied: recorded in `rejected` (its payload already cut).
    Rejected(Rejected),
}

/// An observed entry, as its row would be if it is new (the usual case).
#[derive(Debug)]
pub(super) struct NewEntry {
    pub(super) entry: EntryView,
    /// `entry`'s row in `entries`, and that row's digest hash.
    pub(super) row: Vec<u8>,
    pub(super) hash: [u8; 32],
    /// Its text's grams, in [`Prepared::grams`] (empty without the index).
    pub(super) grams: Range<usize>,
}

impl Prepared {
    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The sequence of its last event.
    pub fn last_seq(&self) -> Option<u64> {
        self.events.last().map(|e| e.seq)
    }
}

impl Store {
    /// Decodes and checks `batch` for [`Store::apply_prepared`], reading
    /// nothing of the file: a payload over [`limits::MAX_EVENT_BYTES`] (not
    /// decoded), one that does not decode, or an event over the limits is
    /// prepared as rejected.
    pub fn prepare(&self, batch: &[Logged<'_>]) -> Prepared {
        let mut prepared = Prepared {
            events: Vec::with_capacity(batch.len()),
            grams: Vec::new(),
        };
        for &Logged {
            seq,
            published,
            payload,
        } in batch
        {
            let what = match checked(payload) {
                Ok(Event::EntryObserved(e)) => {
                    What::Entry(self.new_entry(e, published, &mut prepared.grams))
                }
                Ok(Event::PageCrawled(p) | Event::PageUnchanged(p)) => What::Page(p),
                Ok(Event::FetchFailed(f)) => What::Failed(f),
                Ok(Event::Retention(r)) => {
                    What::Retention(r, truncated_lossy(payload, REJECTED_PAYLOAD_MAX))
                }
                Err(reason) => What::Rejected(Rejected {
                    reason,
                    payload: truncated_lossy(payload, REJECTED_PAYLOAD_MAX),
                }),
            };
            prepared.events.push(PreparedEvent {
                seq,
                published,
                what,
            });
        }
        prepared
    }

    fn new_entry(
        &self,
        e: EntryObserved,
        published: DateTime<Utc>,
        grams: &mut Vec<Gram>,
    ) -> NewEntry {
        let seen = e.observed_at.min(published);
        let entry = EntryView {
            id: e.id,
            page: e.page.to_string(),
            text: e.text,
            timestamp: e.timestamp,
            link: e.link,
            first_seen: seen,
            last_seen: seen,
        };
        let row = entry.row();
        let hash = entry_hash(&entry.page, &entry.id, &row);
        let start = grams.len();
        if self.search_index {
            text_grams(&entry.text, grams);
        }
        NewEntry {
            entry,
            row,
            hash,
            grams: start..grams.len(),
        }
    }
}

/// The event `payload` holds, or why it is rejected.
fn checked(payload: &[u8]) -> Result<Event, String> {
    if payload.len() > limits::MAX_EVENT_BYTES {
        return Err(format!(
            "too large: the payload is {} bytes, over the limit of {}",
            payload.len(),
            limits::MAX_EVENT_BYTES
        ));
    }
    let event = Event::decode(payload).map_err(|e| format!("undecodable: {e}"))?;
    event
        .check_limits()
        .map_err(|e| format!("over the limits: {e}"))?;
    Ok(event)
}

/// `payload` as lossy UTF-8, cut on a character boundary to at most `max`
/// bytes.
fn truncated_lossy(payload: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(payload);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_payload_is_cut_on_a_character_boundary() {
        let long = "日".repeat(2000); // 3 bytes each
        let cut = truncated_lossy(long.as_bytes(), REJECTED_PAYLOAD_MAX);
        assert!(cut.len() <= REJECTED_PAYLOAD_MAX && cut.len() > REJECTED_PAYLOAD_MAX - 3);
        assert_eq!(truncated_lossy(b"\xffok", 10), "\u{fffd}ok");
    }
}
