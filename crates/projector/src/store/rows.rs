//! How a row is encoded: pages and rejections as JSON, entries as postcard
//! [`EntryRow`]s, instants as stamps, and the newest-first sort key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A page as the replica keeps it (also its stored JSON, field order fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    pub key: String,
    pub url: String,
    pub title: String,
    /// When the page was last fetched successfully; for a page known only
    /// from failures, when it first failed (so retention removes it too).
    pub last_crawled: DateTime<Utc>,
    /// HTTP status of the last successful fetch (0 when there was none).
    pub status: u16,
    /// The last failure since the last successful fetch.
    pub failure: Option<Failure>,
    /// How many entries the page showed at its last successful fetch.
    pub entries: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub reason: String,
    pub detail: String,
    pub status: Option<u16>,
    pub at: DateTime<Utc>,
}

/// An entry as the API shows it (stored as an [`EntryRow`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: String,
    pub page: String,
    pub text: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub link: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl EntryView {
    /// The instant the entry sorts by: its own timestamp, else when it was
    /// first seen.
    pub fn sort_time(&self) -> DateTime<Utc> {
        self.timestamp.unwrap_or(self.first_seen)
    }

    pub(super) fn sort_key(&self) -> u64 {
        desc(self.sort_time())
    }

    /// The entry's row in `entries`.
    pub(super) fn row(&self) -> Vec<u8> {
        let row = EntryRow {
            text: &self.text,
            timestamp: self.timestamp.map(stamp),
            link: self.link.as_deref(),
            first_seen: stamp(self.first_seen),
            last_seen: stamp(self.last_seen),
        };
        // Sized once: growing it from empty cost 5 % of the apply. The
        // integers take at most 10 bytes each, the lengths 5.
        let size = self.text.len() + self.link.as_ref().map_or(0, String::len) + 8 * 10;
        // Strings and integers always serialise.
        postcard::to_extend(&row, Vec::with_capacity(size)).unwrap_or_default()
    }

    /// The entry keyed (`page`, `id`) in `entries`, from its row.
    pub(super) fn from_row(page: &str, id: &str, bytes: &[u8]) -> Result<EntryView, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "entries",
            detail: format!("({page}, {id}): {detail}"),
        };
        let row: EntryRow = postcard::from_bytes(bytes).map_err(|e| corrupt(e.to_string()))?;
        let at = |(secs, nanos): Stamp| {
            DateTime::from_timestamp(secs, nanos)
                .ok_or_else(|| corrupt(format!("instant {secs}.{nanos:09} out of range")))
        };
        Ok(EntryView {
            id: id.to_owned(),
            page: page.to_owned(),
            text: row.text.to_owned(),
            timestamp: row.timestamp.map(at).transpose()?,
            link: row.link.map(str::to_owned),
            first_seen: at(row.first_seen)?,
            last_seen: at(row.last_seen)?,
        })
    }
}

/// An entry's row in `entries`, in postcard's binary format (its page and id
/// are the key): about 60 % of the JSON it replaced for the benchmark's
/// entries, and quicker to write and to read.
#[derive(Serialize, Deserialize)]
struct EntryRow<'a> {
    text: &'a str,
    timestamp: Option<Stamp>,
    link: Option<&'a str>,
    first_seen: Stamp,
    last_seen: Stamp,
}

/// An instant as stored: seconds since the epoch and nanoseconds.
type Stamp = (i64, u32);

pub(super) fn stamp(t: DateTime<Utc>) -> Stamp {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

/// A payload the projector could not apply, kept with its sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub reason: String,
    /// The payload as lossy UTF-8, cut to [`REJECTED_PAYLOAD_MAX`](super::REJECTED_PAYLOAD_MAX) bytes.
    pub payload: String,
}

/// The entry an index row points to. A dangling index row is a bug in the
/// apply logic, reported rather than hidden.
pub(super) fn indexed_entry(
    entries: &redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    page: &str,
    id: &str,
) -> Result<EntryView, StoreError> {
    match entries.get((page, id))? {
        Some(row) => EntryView::from_row(page, id, row.value()),
        None => Err(StoreError::Corrupt {
            table: "entries",
            detail: format!("an index names ({page}, {id}), which is missing"),
        }),
    }
}

/// Maps an instant to a key that sorts newest first.
pub(super) fn desc(t: DateTime<Utc>) -> u64 {
    // Flip the sign bit so that i64 order becomes u64 order, then invert.
    !((t.timestamp_micros() as u64) ^ (1 << 63))
}

pub(super) fn to_json<T: Serialize>(row: &T) -> String {
    // Rows are plain structs of strings, integers and timestamps: they
    // always serialise.
    serde_json::to_string(row).unwrap_or_default()
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        table,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desc_sorts_newest_first() {
        let a: DateTime<Utc> = "1960-01-01T00:00:00Z".parse().unwrap();
        let b: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let c: DateTime<Utc> = "2026-01-01T00:00:01Z".parse().unwrap();
        assert!(desc(c) < desc(b) && desc(b) < desc(a));
    }
}
