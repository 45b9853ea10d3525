//! The projector's redb file: every table definition, the apply logic that
//! turns events into rows, and the reads. Nothing that decides what a row
//! holds looks at the clock or draws a random number, so the state after
//! sequence S is a function of the events up to S (design invariant 1); the
//! clock decides only when a commit is synced to disk.
//!
//! # What an event may claim
//!
//! A payload over [`limits::MAX_EVENT_BYTES`] is rejected undecoded, and an
//! event over any field limit ([`Event::check_limits`]) is rejected too, so
//! no row is bigger than those limits allow (design invariant 6). Every time
//! that retention compares is at most the time JetStream stored the event
//! that brought it ([`Logged::published`]), which every replica reads alike:
//! an entry's `first_seen` and `last_seen`, a page's `last_crawled`, a
//! failure's `at`. An event dated in 2100 is thus kept as of when it was
//! published, and the retention events that follow delete it before its
//! message leaves the stream, as they delete every other row (invariant 4).
//!
//! # Tables and key encodings
//!
//! | table         | key                                  | value                 |
//! |---------------|--------------------------------------|-----------------------|
//! | `meta`        | `"schema_version"`, `"applied_seq"`, `"next_doc"`, `"next_segment"` | `u64` |
//! | `pages`       | page key `"site.id"`                 | JSON [`PageView`]     |
//! | `entries`     | `(page, entry id)`                   | postcard [`EntryRow`] |
//! | `page_newest` | `(page, desc(sort key), entry id)`   | document number       |
//! | `page_heads`  | `(desc(sort key), page)`             | `()`                  |
//! | `doc_blocks`  | a batch's first document number      | its documents' `(page, entry id)` ([`crate::docs`]) |
//! | `doc_block_live` | a batch's first document number   | how many of them are live |
//! | `postings`    | `(gram, segment number)`             | a postings segment    |
//! | `postings`    | `(gram, COUNT_KEY)`                  | the gram's postings count (varint) |
//! | `rejected`    | stream sequence                      | JSON [`Rejected`]     |
//! | `digest`      | `"state"`                            | 32 bytes              |
//!
//! An entry's sort key is its own timestamp when the page shows one, else its
//! `first_seen`, as microseconds since the epoch; `desc` maps it to a `u64`
//! that sorts newest first, so the indexes are read forwards.
//! `page_newest`, `page_heads`, the document blocks and the search tables
//! are derived from `entries` and written in the same transaction.
//!
//! # The newest entries overall
//!
//! `page_heads` holds, for every page with entries, the sort key of its
//! newest one. The newest entries overall are a merge of the pages'
//! `page_newest` ranges, opened in `page_heads` order only as far as the
//! limit needs: a page is opened once its head is newer than every entry
//! still waiting in the merge. A batch updates a page's head once, after all
//! its entries, so a crawl that observes 20 entries of a page costs one
//! write here, where an index keyed by every entry's sort key took one
//! write per entry at a random place (at 1M entries, half the cost of the
//! whole apply: docs/BENCHMARKS.md, "Projector").
//!
//! # The search index
//!
//! Each entry has a document number, new whenever its text or sort key
//! changes; `doc_blocks` maps it back to the entry (a batch numbers its
//! entries consecutively and names them in one row, removed once none of
//! them is live), `page_newest` gives an entry's current one. Its
//! lowercased text's distinct bigrams, and its last character alone, point
//! to it through `postings`, where a gram's postings
//! are split into segments (see [`crate::postings`]): a batch appends its
//! postings to the gram's last segment while that one is small, else starts
//! a new one, so that a batch writes one row per distinct gram.
//!
//! A search reads the segments of the query's rarest bigram (by its count,
//! kept right after its last segment, on the page a batch writes anyway),
//! or for a one-character query of every gram that starts with it, merged
//! newest first, and checks each candidate's text contains the query,
//! until `limit` entries are found. The postings of a dead document
//! (deleted, or renumbered by a change) are removed at the end of the batch
//! that killed it.
//!
//! # The digest
//!
//! The state digest is the sum, modulo 2^256, of the SHA-256 of every row of
//! `pages` and `entries` (table name, key parts and value, each
//! length-prefixed). A sum does not depend on the order rows were written
//! in, so it is kept up to date in the same transaction as the rows (the old
//! row's hash subtracted, the new one's added, both known from the insert)
//! and `/api/status` reads it in O(1); [`Store::recompute_digest`] sums every
//! row again to check it. The derived indexes are left out, and so is
//! `rejected`: it is this node's diagnostic log of payloads it could not
//! apply, pruned once those sequences have left the stream, so it would make
//! a node rebuilt later differ from one that saw the payload.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pagefeed_events::event::{EntryObserved, FetchFailed, PageRecord, Retention, ALL_SITES};
use pagefeed_events::limits;
use pagefeed_events::subject::is_token;
use pagefeed_events::Event;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, WriteTransaction,
};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::docs;
use crate::postings::{self, Cursor, Merged, Posting};
use integer_encoding::VarInt as _;

/// Version of the table layout; `open` refuses a file written by a newer one.
/// 11: times bounded by the message's (an older file may hold later ones,
/// so it is rebuilt).
pub const SCHEMA_VERSION: u64 = 11;

/// The longest a committed batch stays unsynced by default (see
/// [`Store::apply_batch`] and [`Store::set_sync_every`]).
pub const DEFAULT_SYNC_EVERY: Duration = Duration::from_secs(1);

/// How much of a rejected payload is kept, in bytes.
pub const REJECTED_PAYLOAD_MAX: usize = 4096;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const PAGES: TableDefinition<&str, &str> = TableDefinition::new("pages");
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
const PAGE_NEWEST: TableDefinition<(&str, u64, &str), u64> = TableDefinition::new("page_newest");
const PAGE_HEADS: TableDefinition<(u64, &str), ()> = TableDefinition::new("page_heads");
const DOC_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("doc_blocks");
const DOC_BLOCK_LIVE: TableDefinition<u64, u64> = TableDefinition::new("doc_block_live");
const POSTINGS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("postings");
/// The segment number under which a gram's postings count is kept: after
/// every segment of the gram, so next to the one batches append to.
const COUNT_KEY: u64 = u64::MAX;
const REJECTED: TableDefinition<u64, &str> = TableDefinition::new("rejected");
const DIGEST: TableDefinition<&str, &[u8; 32]> = TableDefinition::new("digest");

const META_SCHEMA: &str = "schema_version";
const META_APPLIED: &str = "applied_seq";
const META_NEXT_DOC: &str = "next_doc";
const META_NEXT_SEGMENT: &str = "next_segment";

/// A batch appends to a gram's last segment while it holds fewer postings
/// than this, and starts a new segment otherwise.
const SMALL_SEGMENT: usize = 256;
/// redb's page cache. Larger did not apply faster (the OS page cache holds
/// the file; 64 MiB and 32 MiB applied 300k entries at the same rate) but
/// cost its size in resident memory.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
const DIGEST_STATE: &str = "state";

/// Why the store could not do what was asked. Storage failures abort the
/// whole batch (nothing of it is committed); a bad event never does, it is
/// recorded as rejected instead.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redb: {0}")]
    Redb(Box<redb::Error>),
    #[error("the store was written with schema version {found}, this build supports {supported}")]
    SchemaVersion { found: u64, supported: u64 },
    /// The file predates this build's layout: a replica is a function of the
    /// stream, so the caller may rebuild it rather than migrate it.
    #[error("the store has the older schema version {found} (this build writes {supported})")]
    OlderSchema { found: u64, supported: u64 },
    #[error("corrupt row in table {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> StoreError {
                StoreError::Redb(Box::new(redb::Error::from(e)))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

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

    fn sort_key(&self) -> u64 {
        desc(self.sort_time())
    }

    /// The entry's row in `entries`.
    fn row(&self) -> Vec<u8> {
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
    fn from_row(page: &str, id: &str, bytes: &[u8]) -> Result<EntryView, StoreError> {
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

fn stamp(t: DateTime<Utc>) -> Stamp {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

/// A payload the projector could not apply, kept with its sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub reason: String,
    /// The payload as lossy UTF-8, cut to [`REJECTED_PAYLOAD_MAX`] bytes.
    pub payload: String,
}

/// A message of `PAGEFEED_EVENTS` as the store applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged<'a> {
    /// Its stream sequence.
    pub seq: u64,
    /// When JetStream stored it (`msg.info()?.published`): the same on every
    /// replica, and the latest instant its event's times are taken to be.
    pub published: DateTime<Utc>,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub applied: usize,
    pub rejected: usize,
    /// Sequences at or below the applied sequence: redeliveries.
    pub skipped: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pages: u64,
    pub entries: u64,
    pub rejected: u64,
}

/// How much one list answer may hold: at most `limit` items and, after
/// its first item, at most `max_bytes` of their JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: usize,
    pub max_bytes: usize,
}

impl Window {
    /// Everything.
    pub fn all() -> Window {
        Window {
            limit: usize::MAX,
            max_bytes: usize::MAX,
        }
    }

    /// `limit` items, whatever their size.
    pub fn entries(limit: usize) -> Window {
        Window {
            limit,
            max_bytes: usize::MAX,
        }
    }
}

/// One window of a list: its items, and where the next window starts if
/// more may follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T, P> {
    pub items: Vec<T>,
    /// The last position this answer covered, to continue after; `None`
    /// when the list ended.
    pub next: Option<P>,
    /// The answer stopped short of its limit (its byte or work budget ran
    /// out) though more may follow.
    pub partial: bool,
}

/// How much work one search may do before it answers `partial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchBudget {
    /// Candidate entries checked (each one an entry read and compared).
    pub candidates: usize,
    /// Time from the search's start, checked every few candidates.
    pub time: Duration,
}

impl SearchBudget {
    pub fn unlimited() -> SearchBudget {
        SearchBudget {
            candidates: usize::MAX,
            time: Duration::MAX,
        }
    }
}

impl Default for SearchBudget {
    fn default() -> SearchBudget {
        SearchBudget {
            candidates: 20_000,
            time: Duration::from_millis(250),
        }
    }
}

/// An entry's place in the newest-first order: (sort key, page, id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPos {
    pub sort: u64,
    pub page: String,
    pub id: String,
}

/// Gathers a [`Listed`] within a [`Window`].
struct Collector<T, P> {
    window: Window,
    items: Vec<T>,
    bytes: usize,
    last: Option<P>,
    next: Option<P>,
    partial: bool,
}

impl<T: Serialize, P> Collector<T, P> {
    fn new(window: Window) -> Collector<T, P> {
        Collector {
            window,
            items: Vec::new(),
            bytes: 0,
            last: None,
            next: None,
            partial: false,
        }
    }

    /// Adds `item`, at position `at`, if it fits the byte budget (the
    /// first item always does); else the list stops before it, partial.
    fn push(&mut self, item: T, at: P) -> bool {
        let size = json_len(&item) + 1;
        if !self.items.is_empty() && self.bytes.saturating_add(size) > self.window.max_bytes {
            self.next = self.last.take();
            self.partial = true;
            return false;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.items.push(item);
        self.last = Some(at);
        true
    }

    fn is_full(&self) -> bool {
        self.items.len() >= self.window.limit
    }

    /// More follows the last item.
    fn more(&mut self) {
        self.next = self.last.take();
    }

    /// The work budget ran out at `at` (at or after the last item).
    fn out_of_budget(&mut self, at: P) {
        self.next = Some(at);
        self.partial = true;
    }

    fn finish(self) -> Listed<T, P> {
        Listed {
            items: self.items,
            next: self.next,
            partial: self.partial,
        }
    }
}

/// The length of `value`'s JSON, without building it.
fn json_len<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Rows are plain structs of strings, integers and timestamps: they
    // always serialise.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The projector's redb database. One process owns the file.
pub struct Store {
    db: Database,
    search_index: bool,
    /// When a batch last committed durably (see [`Store::apply_batch`]).
    durable_at: Mutex<Instant>,
    sync_every: Duration,
}

impl Store {
    /// Opens the store at `path`, creating it (and every table) if missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(META_SCHEMA)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert(META_SCHEMA, SCHEMA_VERSION)?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(found) if found < SCHEMA_VERSION => {
                    return Err(StoreError::OlderSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    })
                }
                Some(found) => {
                    return Err(StoreError::SchemaVersion {
                        found,
                        supported: SCHEMA_VERSION,
                    })
                }
            }
            // Create every table now, so reads never meet a missing one.
            txn.open_table(PAGES)?;
            txn.open_table(ENTRIES)?;
            txn.open_table(PAGE_NEWEST)?;
            txn.open_table(PAGE_HEADS)?;
            txn.open_table(DOC_BLOCKS)?;
            txn.open_table(DOC_BLOCK_LIVE)?;
            txn.open_table(POSTINGS)?;
            txn.open_table(REJECTED)?;
            txn.open_table(DIGEST)?;
        }
        txn.commit()?;
        Ok(Store {
            db,
            search_index: true,
            durable_at: Mutex::new(Instant::now()),
            sync_every: DEFAULT_SYNC_EVERY,
        })
    }

    /// Applies without the search index from now on (`search` then finds
    /// nothing): for the benchmark's split of apply cost, never for a node.
    pub fn without_search_index(mut self) -> Store {
        self.search_index = false;
        self
    }

    /// The last stream sequence applied (0 when fresh).
    pub fn applied_seq(&self) -> Result<u64, StoreError> {
        applied_in(&self.db.begin_read()?)
    }

    /// Applies a batch of messages in one write transaction, together with
    /// the last sequence. Sequences at or below the applied one are skipped
    /// (at-least-once delivery, exactly-once effect). A payload over
    /// [`limits::MAX_EVENT_BYTES`] (not decoded), one that does not decode,
    /// an event over the limits, or one that cannot be applied, is recorded
    /// in `rejected` and the batch goes on.
    ///
    /// The commit is synced to disk ([`Durability::Immediate`]) when the last
    /// synced one is [`Store::sync_every`] old, else left to the next synced commit
    /// ([`Durability::None`]), to [`Store::sync`], or to closing the file.
    /// Every commit is atomic either way: a crash rolls the file back to its
    /// last synced commit, effects and applied sequence together, and the
    /// node replays the rest from the stream (its consumer starts from the
    /// file's sequence + 1), so nothing is lost and nothing applied twice.
    /// Syncing every commit made a batch of a dozen events take 12 ms, most
    /// of the end-to-end lag at 1,000 events/s.
    pub fn apply_batch(&self, batch: &[Logged<'_>]) -> Result<ApplyStats, StoreError> {
        let mut stats = ApplyStats::default();
        let mut txn = self.db.begin_write()?;
        let sync = self.lock_durable_at().elapsed() >= self.sync_every;
        txn.set_durability(if sync {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        {
            let mut t = Tables::open(&txn)?;
            t.search_index = self.search_index;
            let mut last = t.meta.get(META_APPLIED)?.map(|v| v.value()).unwrap_or(0);
            for &Logged {
                seq,
                published,
                payload,
            } in batch
            {
                if seq <= last {
                    stats.skipped += 1;
                    continue;
                }
                let outcome = if payload.len() > limits::MAX_EVENT_BYTES {
                    Err(format!(
                        "too large: the payload is {} bytes, over the limit of {}",
                        payload.len(),
                        limits::MAX_EVENT_BYTES
                    ))
                } else {
                    match Event::decode(payload) {
                        Ok(event) => match event.check_limits() {
                            Ok(()) => t.apply(event, published)?,
                            Err(e) => Err(format!("over the limits: {e}")),
                        },
                        Err(e) => Err(format!("undecodable: {e}")),
                    }
                };
                match outcome {
                    Ok(()) => stats.applied += 1,
                    Err(reason) => {
                        tracing::warn!(seq, reason = %reason, "event rejected");
                        let row = Rejected {
                            reason,
                            payload: truncated_lossy(payload, REJECTED_PAYLOAD_MAX),
                        };
                        t.rejected.insert(seq, to_json(&row).as_str())?;
                        stats.rejected += 1;
                    }
                }
                last = seq;
            }
            t.finish_docs()?;
            t.finish_heads()?;
            t.finish_index()?;
            t.meta.insert(META_APPLIED, last)?;
            t.digest.insert(DIGEST_STATE, &t.sum.0)?;
        }
        if stats.applied + stats.rejected == 0 {
            // Only redeliveries: nothing to make durable.
            txn.abort()?;
        } else {
            txn.commit()?;
            if sync {
                *self.lock_durable_at() = Instant::now();
            }
        }
        Ok(stats)
    }

    /// The longest a committed batch stays unsynced.
    pub fn sync_every(&self) -> Duration {
        self.sync_every
    }

    /// Sets how long a committed batch may stay unsynced (zero: every
    /// commit is synced).
    pub fn set_sync_every(&mut self, every: Duration) {
        self.sync_every = every;
    }

    /// Syncs every commit so far to disk (a no-op when the last one was).
    pub fn sync(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        *self.lock_durable_at() = Instant::now();
        Ok(())
    }

    fn lock_durable_at(&self) -> std::sync::MutexGuard<'_, Instant> {
        // An Instant cannot be left half-written: a poisoned lock is fine.
        self.durable_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn page(&self, key: &str) -> Result<Option<PageView>, StoreError> {
        let txn = self.db.begin_read()?;
        let pages = txn.open_table(PAGES)?;
        let row = pages.get(key)?;
        row.map(|v| from_json("pages", v.value())).transpose()
    }

    /// Every page, in key order.
    pub fn pages(&self) -> Result<Vec<PageView>, StoreError> {
        Ok(self.pages_after(None, Window::all())?.items)
    }

    /// Pages in key order after the page `after`, within `window`; `next`
    /// is the key to continue after.
    pub fn pages_after(
        &self,
        after: Option<&str>,
        window: Window,
    ) -> Result<Listed<PageView, String>, StoreError> {
        let txn = self.db.begin_read()?;
        let pages = txn.open_table(PAGES)?;
        let mut rows = match after {
            Some(key) => pages.range::<&str>((Bound::Excluded(key), Bound::Unbounded))?,
            None => pages.range::<&str>(..)?,
        };
        let mut list = Collector::new(window);
        while let Some(item) = rows.next() {
            let (k, v) = item?;
            let page: PageView = from_json("pages", v.value())?;
            if !list.push(page, k.value().to_owned()) {
                break;
            }
            if list.is_full() {
                if rows.next().is_some() {
                    list.more();
                }
                break;
            }
        }
        Ok(list.finish())
    }

    /// A page's entries, newest first.
    pub fn page_entries(&self, key: &str, limit: usize) -> Result<Vec<EntryView>, StoreError> {
        Ok(self
            .page_entries_after(key, None, Window::entries(limit))?
            .items)
    }

    /// A page's entries, newest first, after the entry at `after` (keyset:
    /// entries written meanwhile before it do not shift the rest), within
    /// `window`.
    pub fn page_entries_after(
        &self,
        key: &str,
        after: Option<&EntryPos>,
        window: Window,
    ) -> Result<Listed<EntryView, EntryPos>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(PAGE_NEWEST)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut rows = match after {
            Some(at) => index.range::<(&str, u64, &str)>((
                Bound::Excluded((key, at.sort, at.id.as_str())),
                Bound::Unbounded,
            ))?,
            None => index.range((key, 0u64, "")..)?,
        };
        let mut list = Collector::new(window);
        while let Some((sort, id)) = next_of_page(&mut rows, key)? {
            let entry = indexed_entry(&entries, key, &id)?;
            let at = EntryPos {
                sort,
                page: key.to_owned(),
                id,
            };
            if !list.push(entry, at) {
                break;
            }
            if list.is_full() {
                if next_of_page(&mut rows, key)?.is_some() {
                    list.more();
                }
                break;
            }
        }
        Ok(list.finish())
    }

    /// The newest entries of all pages, newest first.
    pub fn newest_entries(&self, limit: usize) -> Result<Vec<EntryView>, StoreError> {
        Ok(self.newest_after(None, Window::entries(limit))?.items)
    }

    /// The newest entries of all pages, newest first (by sort key, then
    /// page, then id), after the entry at `after`, within `window`: a merge
    /// of the pages' `page_newest` ranges, each opened when its head (in
    /// `page_heads`) is newer than every entry waiting in the merge, so the
    /// first window reads at most `limit` pages. After a cursor, every page
    /// whose head is newer than it is opened first (its entries past the
    /// cursor may come first).
    pub fn newest_after(
        &self,
        after: Option<&EntryPos>,
        window: Window,
    ) -> Result<Listed<EntryView, EntryPos>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(PAGE_NEWEST)?;
        let entries = txn.open_table(ENTRIES)?;
        let heads_table = txn.open_table(PAGE_HEADS)?;
        let mut heads = heads_table.iter()?;
        // A page cannot show anything before the cursor: its head counts
        // as the cursor's sort key at the earliest.
        let floor = after.map_or(0, |at| at.sort);
        let mut next_head = || -> Result<Option<(u64, String)>, StoreError> {
            Ok(heads.next().transpose()?.map(|(k, _)| {
                let (sort, page) = k.value();
                (sort.max(floor), page.to_owned())
            }))
        };
        let mut head = next_head()?;
        // Open pages, and the merge's front: (sort key, page, id, which page).
        let mut open: Vec<(String, redb::Range<_, _>)> = Vec::new();
        let mut merge: BinaryHeap<Reverse<(u64, String, String, usize)>> = BinaryHeap::new();
        let mut list = Collector::new(window);
        loop {
            let open_next = match (&head, merge.peek()) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some((sort, _)), Some(Reverse((front, ..)))) => sort <= front,
            };
            if open_next {
                let Some((_, page)) = head.take() else { break };
                let range = match after {
                    None => Some(index.range((page.as_str(), 0u64, "")..)?),
                    Some(at) => page_range_after(&index, &page, at)?,
                };
                if let Some(mut range) = range {
                    if let Some(row) = next_of_page(&mut range, &page)? {
                        merge.push(Reverse((row.0, page.clone(), row.1, open.len())));
                    }
                    open.push((page, range));
                }
                head = next_head()?;
                continue;
            }
            if list.is_full() {
                if !merge.is_empty() {
                    list.more();
                }
                break;
            }
            let Some(Reverse((sort, page, id, which))) = merge.pop() else {
                break;
            };
            let entry = indexed_entry(&entries, &page, &id)?;
            let at = EntryPos { sort, page, id };
            if !list.push(entry, at) {
                break;
            }
            let (page, range) = &mut open[which];
            if let Some(row) = next_of_page(range, page)? {
                merge.push(Reverse((row.0, page.clone(), row.1, which)));
            }
        }
        Ok(list.finish())
    }

    /// Entries whose text contains `query`, ignoring case (Unicode
    /// lowercase), newest first: see "The search index" above.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<EntryView>, StoreError> {
        Ok(self
            .search_after(
                query,
                None,
                Window::entries(limit),
                SearchBudget::unlimited(),
            )?
            .items)
    }

    /// [`Store::search`] from the index position `after` (a cursor given
    /// by an earlier answer), within `window` and `budget`: the work is
    /// bounded by the budget, not by how many entries hold the query's
    /// grams. An answer that ran out of budget is
    /// `partial`, and its `next` continues where it stopped.
    pub fn search_after(
        &self,
        query: &str,
        after: Option<Posting>,
        window: Window,
        budget: SearchBudget,
    ) -> Result<Listed<EntryView, Posting>, StoreError> {
        let deadline = Instant::now().checked_add(budget.time);
        let mut list = Collector::new(window);
        let needle = query.to_lowercase();
        let grams = query_grams(&needle);
        if grams.is_empty() || window.limit == 0 {
            return Ok(list.finish());
        }
        let txn = self.db.begin_read()?;
        let postings = txn.open_table(POSTINGS)?;
        // What to read: for one character, every gram that starts with it
        // (its bigrams, and its end-of-text gram, the character alone); else
        // the query's rarest bigram (grams have at most two characters, so
        // the only gram a bigram starts is itself).
        let prefix = if let [one] = grams.as_slice() {
            one.as_str()
        } else {
            let mut rarest: Option<(&str, u64)> = None;
            for gram in &grams {
                let n = gram_count(&postings, gram)?;
                if n == 0 {
                    return Ok(list.finish());
                }
                if rarest.is_none_or(|(_, m)| n < m) {
                    rarest = Some((gram, n));
                }
            }
            match rarest {
                Some((gram, _)) => gram,
                None => return Ok(list.finish()),
            }
        };
        // The segments are read where redb's cache holds them, not copied:
        // a common character's run to 18 MB, and a copy that size per
        // search left that much in the heap of the thread that made it.
        let mut rows = Vec::new();
        for item in postings.range((prefix, 0)..)? {
            let (k, v) = item?;
            let (gram, segment) = k.value();
            if !gram.starts_with(prefix) {
                break;
            }
            if segment != COUNT_KEY {
                rows.push(v);
            }
        }
        let segments = rows
            .iter()
            .map(|row| Cursor::new(row.value()).ok_or_else(bad_segment))
            .collect::<Result<Vec<_>, _>>()?;
        let blocks = txn.open_table(DOC_BLOCKS)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut merged = Merged::new(segments).peekable();
        let mut last = None;
        let mut checked = 0usize;
        let mut last_checked = None;
        while let Some(posting) = merged.next() {
            let posting = posting.map_err(|()| bad_segment())?;
            // Under several grams (one-character queries), a document comes
            // once per gram, one after the other in the merge.
            if last.replace(posting) == Some(posting) || after.is_some_and(|a| posting <= a) {
                continue;
            }
            let out_of_time = checked % 64 == 63 && deadline.is_some_and(|d| Instant::now() >= d);
            if checked >= budget.candidates || out_of_time {
                if let Some(at) = last_checked {
                    list.out_of_budget(at);
                }
                break;
            }
            checked += 1;
            last_checked = Some(posting);
            let doc = posting.1;
            let block = blocks.range(..=doc)?.next_back().transpose()?;
            let name = block
                .as_ref()
                .and_then(|(first, names)| docs::name(names.value(), doc - first.value()));
            // A dead document's postings go in the batch that killed it.
            let Some((page, id)) = name else {
                return Err(StoreError::Corrupt {
                    table: "doc_blocks",
                    detail: format!("a posting names document {doc}, which no block holds"),
                });
            };
            let entry = indexed_entry(&entries, page, id)?;
            if entry.text.to_lowercase().contains(&needle) {
                if !list.push(entry, posting) {
                    break;
                }
                if list.is_full() {
                    if merged.peek().is_some() {
                        list.more();
                    }
                    break;
                }
            }
        }
        Ok(list.finish())
    }

    /// The first `limit` rejected payloads, by sequence.
    pub fn rejected(&self, limit: usize) -> Result<Vec<(u64, Rejected)>, StoreError> {
        let txn = self.db.begin_read()?;
        let rejected = txn.open_table(REJECTED)?;
        let mut out = Vec::new();
        for item in rejected.iter()?.take(limit) {
            let (k, v) = item?;
            out.push((k.value(), from_json("rejected", v.value())?));
        }
        Ok(out)
    }

    pub fn counts(&self) -> Result<Counts, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(Counts {
            pages: txn.open_table(PAGES)?.len()?,
            entries: txn.open_table(ENTRIES)?.len()?,
            rejected: txn.open_table(REJECTED)?.len()?,
        })
    }

    /// The blocks of document names the file holds, each with how many of
    /// its documents are live (see [`crate::docs`]): a block goes once none
    /// is.
    pub fn doc_blocks(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let txn = self.db.begin_read()?;
        let live = txn.open_table(DOC_BLOCK_LIVE)?;
        let blocks = txn.open_table(DOC_BLOCKS)?;
        let mut out = Vec::new();
        for item in live.iter()? {
            let (first, n) = item?;
            if blocks.get(first.value())?.is_none() {
                return Err(StoreError::Corrupt {
                    table: "doc_blocks",
                    detail: format!("block {} is counted but missing", first.value()),
                });
            }
            out.push((first.value(), n.value()));
        }
        if blocks.len()? != out.len() as u64 {
            return Err(StoreError::Corrupt {
                table: "doc_block_live",
                detail: "a block has no count".to_owned(),
            });
        }
        Ok(out)
    }

    /// (applied sequence, hex state digest), both from one read transaction:
    /// the digest kept by the writes (see the module documentation).
    pub fn digest(&self) -> Result<(u64, String), StoreError> {
        let txn = self.db.begin_read()?;
        let applied = applied_in(&txn)?;
        let sum = txn
            .open_table(DIGEST)?
            .get(DIGEST_STATE)?
            .map(|v| StateSum(*v.value()))
            .unwrap_or_default();
        Ok((applied, sum.hex()))
    }

    /// (applied sequence, hex state digest) summed from every row again, to
    /// check the kept one: they differ only if the file was damaged.
    pub fn recompute_digest(&self) -> Result<(u64, String), StoreError> {
        let txn = self.db.begin_read()?;
        let applied = applied_in(&txn)?;
        let mut sum = StateSum::default();
        for item in txn.open_table(PAGES)?.iter()? {
            let (k, v) = item?;
            sum.add(&page_hash(k.value(), v.value()));
        }
        for item in txn.open_table(ENTRIES)?.iter()? {
            let (k, v) = item?;
            let (page, id) = k.value();
            sum.add(&entry_hash(page, id, v.value()));
        }
        Ok((applied, sum.hex()))
    }

    /// Deletes the rejected rows below `seq` (the stream's first sequence:
    /// those payloads are gone from the stream). Returns how many went.
    pub fn prune_rejected(&self, seq: u64) -> Result<u64, StoreError> {
        let txn = self.db.begin_write()?;
        let pruned = {
            let mut rejected = txn.open_table(REJECTED)?;
            let before = rejected.len()?;
            rejected.retain_in(..seq, |_, _| false)?;
            before - rejected.len()?
        };
        if pruned == 0 {
            txn.abort()?;
        } else {
            txn.commit()?;
        }
        Ok(pruned)
    }
}

/// The order-independent state digest: a 256-bit big-endian number, the sum
/// of the hashes of every row, wrapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StateSum([u8; 32]);

impl StateSum {
    fn add(&mut self, h: &[u8; 32]) {
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let v = u16::from(self.0[i]) + u16::from(h[i]) + carry;
            self.0[i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
    }

    fn sub(&mut self, h: &[u8; 32]) {
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut v = i16::from(self.0[i]) - i16::from(h[i]) - borrow;
            borrow = 0;
            if v < 0 {
                v += 256;
                borrow = 1;
            }
            self.0[i] = v as u8;
        }
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn page_hash(key: &str, json: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_part(&mut h, b"pages");
    hash_part(&mut h, key.as_bytes());
    hash_part(&mut h, json.as_bytes());
    h.finalize().into()
}

fn entry_hash(page: &str, id: &str, row: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_part(&mut h, b"entries");
    hash_part(&mut h, page.as_bytes());
    hash_part(&mut h, id.as_bytes());
    hash_part(&mut h, row);
    h.finalize().into()
}

/// Every table of one write transaction, opened once per batch.
struct Tables<'t> {
    meta: Table<'t, &'static str, u64>,
    pages: Table<'t, &'static str, &'static str>,
    entries: Table<'t, (&'static str, &'static str), &'static [u8]>,
    page_newest: Table<'t, (&'static str, u64, &'static str), u64>,
    page_heads: Table<'t, (u64, &'static str), ()>,
    doc_blocks: Table<'t, u64, &'static [u8]>,
    doc_block_live: Table<'t, u64, u64>,
    /// The names of the documents this batch numbers, from `block_first`
    /// on, written as one block by `finish_docs`.
    block: docs::BlockBuilder,
    block_first: u64,
    /// How many of them this batch also unindexed.
    block_dead: u64,
    /// Documents of earlier blocks this batch unindexed.
    dead_docs: Vec<u64>,
    /// The pages whose entries this batch indexed or unindexed, with their
    /// head (newest sort key) before the batch: `finish_heads` updates
    /// `page_heads` once per page.
    touched: HashMap<String, Option<u64>>,
    postings: Table<'t, (&'static str, u64), &'static [u8]>,
    /// The documents this batch numbered, with their grams, posted by
    /// [`Tables::finish_index`].
    new_docs: Vec<(Posting, std::ops::Range<usize>)>,
    /// The grams of `new_docs`, each document's in its range.
    new_grams: Vec<Gram>,
    /// Documents this batch killed, by gram, removed by `finish_index`.
    dead_postings: FxHashMap<Gram, FxHashSet<u64>>,
    /// The next document number, stored by `finish_index`.
    next_doc: u64,
    /// The next segment number, stored by `finish_index`.
    next_segment: u64,
    search_index: bool,
    rejected: Table<'t, u64, &'static str>,
    digest: Table<'t, &'static str, &'static [u8; 32]>,
    /// The state digest as this batch moves it, stored at its end.
    sum: StateSum,
}

/// Why an event was not applied; stored as the rejection reason.
type Refusal = String;

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, StoreError> {
        let meta = txn.open_table(META)?;
        let next_doc = meta.get(META_NEXT_DOC)?.map(|v| v.value()).unwrap_or(0);
        let next_segment = meta.get(META_NEXT_SEGMENT)?.map(|v| v.value()).unwrap_or(0);
        let digest = txn.open_table(DIGEST)?;
        let sum = digest
            .get(DIGEST_STATE)?
            .map(|v| StateSum(*v.value()))
            .unwrap_or_default();
        Ok(Tables {
            meta,
            pages: txn.open_table(PAGES)?,
            entries: txn.open_table(ENTRIES)?,
            page_newest: txn.open_table(PAGE_NEWEST)?,
            page_heads: txn.open_table(PAGE_HEADS)?,
            doc_blocks: txn.open_table(DOC_BLOCKS)?,
            doc_block_live: txn.open_table(DOC_BLOCK_LIVE)?,
            block: docs::BlockBuilder::default(),
            block_first: next_doc,
            block_dead: 0,
            dead_docs: Vec::new(),
            touched: HashMap::new(),
            postings: txn.open_table(POSTINGS)?,
            new_docs: Vec::new(),
            new_grams: Vec::new(),
            dead_postings: FxHashMap::default(),
            next_doc,
            next_segment,
            search_index: true,
            rejected: txn.open_table(REJECTED)?,
            digest,
            sum,
        })
    }

    // Every write to `pages` and `entries` goes through these three and
    // `put_entry`, which keep the state digest in step.

    fn write_page(&mut self, key: &str, json: &str) -> Result<(), StoreError> {
        if let Some(old) = self.pages.insert(key, json)? {
            self.sum.sub(&page_hash(key, old.value()));
        }
        self.sum.add(&page_hash(key, json));
        Ok(())
    }

    fn delete_page(&mut self, key: &str) -> Result<(), StoreError> {
        if let Some(old) = self.pages.remove(key)? {
            self.sum.sub(&page_hash(key, old.value()));
        }
        Ok(())
    }

    fn delete_entry(&mut self, page: &str, id: &str) -> Result<(), StoreError> {
        if let Some(old) = self.entries.remove((page, id))? {
            self.sum.sub(&entry_hash(page, id, old.value()));
        }
        Ok(())
    }

    /// Applies one event, published at `published`: `Err` from storage
    /// aborts the batch, the inner `Err` rejects this event only.
    fn apply(
        &mut self,
        event: Event,
        published: DateTime<Utc>,
    ) -> Result<Result<(), Refusal>, StoreError> {
        match event {
            Event::PageCrawled(p) | Event::PageUnchanged(p) => self.put_page(&p, published).map(Ok),
            Event::EntryObserved(e) => self.put_entry(e, published).map(Ok),
            Event::FetchFailed(f) => self.fail_page(&f, published).map(Ok),
            Event::Retention(r) => self.retention(&r),
        }
    }

    fn get_page(&self, key: &str) -> Result<Option<PageView>, StoreError> {
        let row = self.pages.get(key)?;
        row.map(|v| from_json("pages", v.value())).transpose()
    }

    fn put_page(&mut self, p: &PageRecord, published: DateTime<Utc>) -> Result<(), StoreError> {
        let key = p.page.to_string();
        let row = PageView {
            key: key.clone(),
            url: p.url.clone(),
            title: p.title.clone(),
            last_crawled: p.crawled_at.min(published),
            status: p.status,
            failure: None,
            entries: p.entries,
        };
        self.write_page(&key, &to_json(&row))
    }

    fn fail_page(&mut self, f: &FetchFailed, published: DateTime<Utc>) -> Result<(), StoreError> {
        let key = f.page.to_string();
        let at = f.failed_at.min(published);
        let failure = Failure {
            reason: f.reason.clone(),
            detail: f.detail.clone(),
            status: f.status,
            at,
        };
        let row = match self.get_page(&key)? {
            Some(page) => PageView {
                failure: Some(failure),
                ..page
            },
            None => PageView {
                key: key.clone(),
                url: f.url.clone(),
                title: String::new(),
                last_crawled: at,
                status: 0,
                failure: Some(failure),
                entries: 0,
            },
        };
        self.write_page(&key, &to_json(&row))
    }

    /// An entry observed. It is written first as a new entry (fetchers
    /// publish new and changed entries only, so it usually is), and that
    /// insert returns the row it replaced: only then is the entry merged
    /// with its old row and written again. A new entry costs one B-tree
    /// operation here instead of a read and a write.
    fn put_entry(&mut self, e: EntryObserved, published: DateTime<Utc>) -> Result<(), StoreError> {
        let seen = e.observed_at.min(published);
        let mut new = EntryView {
            id: e.id,
            page: e.page.to_string(),
            text: e.text,
            timestamp: e.timestamp,
            link: e.link,
            first_seen: seen,
            last_seen: seen,
        };
        let row = new.row();
        let key = (new.page.as_str(), new.id.as_str());
        let old = match self.entries.insert(key, row.as_slice())? {
            Some(v) => Some((
                EntryView::from_row(key.0, key.1, v.value())?,
                entry_hash(key.0, key.1, v.value()),
            )),
            None => None,
        };
        let Some((old, old_hash)) = old else {
            self.sum.add(&entry_hash(&new.page, &new.id, &row));
            return self.index(&new);
        };
        self.sum.sub(&old_hash);
        new.first_seen = old.first_seen.min(new.first_seen);
        new.last_seen = old.last_seen.max(new.last_seen);
        // Same place in the indexes: nothing to move.
        if old.sort_key() != new.sort_key() || old.text != new.text {
            self.unindex(&old)?;
            self.index(&new)?;
        }
        let row = new.row();
        self.entries
            .insert((new.page.as_str(), new.id.as_str()), row.as_slice())?;
        self.sum.add(&entry_hash(&new.page, &new.id, &row));
        Ok(())
    }

    /// Gives the entry a new document number, indexes it as newest under
    /// it and queues its postings.
    fn index(&mut self, e: &EntryView) -> Result<(), StoreError> {
        let doc = self.next_doc;
        self.next_doc += 1;
        let sort = e.sort_key();
        let (page, id) = (e.page.as_str(), e.id.as_str());
        self.touch(page)?;
        self.page_newest.insert((page, sort, id), doc)?;
        self.block.push(page, id);
        if self.search_index {
            let start = self.new_grams.len();
            text_grams(&e.text, &mut self.new_grams);
            self.new_docs
                .push(((sort, doc), start..self.new_grams.len()));
        }
        Ok(())
    }

    /// Takes the entry out of the newest indexes; its document number dies
    /// and its postings go at the end of the batch.
    fn unindex(&mut self, e: &EntryView) -> Result<(), StoreError> {
        let sort = e.sort_key();
        self.touch(&e.page)?;
        let Some(doc) = self
            .page_newest
            .remove((e.page.as_str(), sort, e.id.as_str()))?
            .map(|v| v.value())
        else {
            return Err(StoreError::Corrupt {
                table: "page_newest",
                detail: format!("entry ({}, {}) is not indexed", e.page, e.id),
            });
        };
        if doc >= self.block_first {
            self.block_dead += 1;
        } else {
            self.dead_docs.push(doc);
        }
        if self.search_index {
            let mut grams = Vec::new();
            text_grams(&e.text, &mut grams);
            for gram in grams {
                self.dead_postings.entry(gram).or_default().insert(doc);
            }
        }
        Ok(())
    }

    /// Notes `page`'s head before the batch first changes its entries.
    fn touch(&mut self, page: &str) -> Result<(), StoreError> {
        if !self.touched.contains_key(page) {
            let head = page_head(&self.page_newest, page)?;
            self.touched.insert(page.to_owned(), head);
        }
        Ok(())
    }

    /// Writes the block of this batch's documents, with how many are live,
    /// and counts the documents it unindexed out of their blocks: a block
    /// with none left is removed.
    fn finish_docs(&mut self) -> Result<(), StoreError> {
        let block = std::mem::take(&mut self.block);
        let live = block.len() as u64 - self.block_dead;
        if live > 0 {
            self.doc_blocks
                .insert(self.block_first, block.encode().as_slice())?;
            self.doc_block_live.insert(self.block_first, live)?;
        }
        let mut dead = std::mem::take(&mut self.dead_docs);
        dead.sort_unstable();
        let mut at = 0;
        while let Some(&doc) = dead.get(at) {
            let Some((first, live)) = self
                .doc_block_live
                .range(..=doc)?
                .next_back()
                .transpose()?
                .map(|(k, v)| (k.value(), v.value()))
            else {
                return Err(StoreError::Corrupt {
                    table: "doc_block_live",
                    detail: format!("document {doc} is in no block"),
                });
            };
            // The block's other dead documents follow in `dead`: the next
            // block starts after them.
            let next = self
                .doc_block_live
                .range(doc.saturating_add(1)..)?
                .next()
                .transpose()?
                .map_or(u64::MAX, |(k, _)| k.value());
            let gone = dead[at..].iter().take_while(|&&d| d < next).count();
            at += gone;
            match live.checked_sub(gone as u64) {
                Some(0) => {
                    self.doc_blocks.remove(first)?;
                    self.doc_block_live.remove(first)?;
                }
                Some(left) => {
                    self.doc_block_live.insert(first, left)?;
                }
                None => {
                    return Err(StoreError::Corrupt {
                        table: "doc_block_live",
                        detail: format!("block {first} has {live} live documents, {gone} died"),
                    })
                }
            }
        }
        Ok(())
    }

    /// Moves the head of every page the batch touched, if it changed.
    fn finish_heads(&mut self) -> Result<(), StoreError> {
        for (page, before) in std::mem::take(&mut self.touched) {
            let after = page_head(&self.page_newest, &page)?;
            if after == before {
                continue;
            }
            if let Some(sort) = before {
                self.page_heads.remove((sort, page.as_str()))?;
            }
            if let Some(sort) = after {
                self.page_heads.insert((sort, page.as_str()), ())?;
            }
        }
        Ok(())
    }

    /// Writes the batch's postings (appending to each gram's last segment
    /// while it is small) and removes those of the documents it killed.
    fn finish_index(&mut self) -> Result<(), StoreError> {
        self.meta.insert(META_NEXT_DOC, self.next_doc)?;
        // Posted in (sort key, document) order, every gram's list comes out
        // sorted: one sort of the batch's documents, none per gram.
        let mut new_docs = std::mem::take(&mut self.new_docs);
        new_docs.sort_unstable_by_key(|(posting, _)| *posting);
        let new_grams = std::mem::take(&mut self.new_grams);
        // Every gram's postings in one array, grouped by gram (a counting
        // sort): one hash lookup a posting, and no list grown per gram.
        let mut slot_of: FxHashMap<Gram, u32> = FxHashMap::default();
        let mut grams: Vec<(Gram, usize)> = Vec::new();
        let slots: Vec<u32> = new_grams
            .iter()
            .map(|&gram| {
                let slot = *slot_of.entry(gram).or_insert_with(|| {
                    grams.push((gram, 0));
                    (grams.len() - 1) as u32
                });
                grams[slot as usize].1 += 1;
                slot
            })
            .collect();
        let mut starts = Vec::with_capacity(grams.len());
        let mut total = 0;
        for &(_, n) in &grams {
            starts.push(total);
            total += n;
        }
        let mut ends = starts.clone();
        let mut flat: Vec<Posting> = vec![(0, 0); total];
        for (posting, range) in new_docs {
            for &slot in &slots[range] {
                let slot = slot as usize;
                let at = ends[slot];
                // A gram twice in one text: one posting.
                if at > starts[slot] && flat[at - 1] == posting {
                    continue;
                }
                flat[at] = posting;
                ends[slot] += 1;
            }
        }
        for (slot, &(gram, _)) in grams.iter().enumerate() {
            let add = &flat[starts[slot]..ends[slot]];
            let gram = gram_text(gram);
            let added = add.len() as u64;
            let last = match self
                .postings
                .range((gram.as_str(), 0)..(gram.as_str(), COUNT_KEY))?
                .next_back()
            {
                Some(item) => {
                    let (k, v) = item?;
                    let old = v.value();
                    match postings::count(old).ok_or_else(bad_segment)? {
                        n if n < SMALL_SEGMENT => Some((k.value().1, decode_segment(old)?)),
                        _ => None,
                    }
                }
                None => None,
            };
            let (segment, bytes) = match last {
                Some((seg, old)) => (seg, postings::encode(&postings::merge(&old, add))),
                None => {
                    let seg = self.next_segment;
                    self.next_segment += 1;
                    (seg, postings::encode(add))
                }
            };
            self.postings
                .insert((gram.as_str(), segment), bytes.as_slice())?;
            self.add_gram_count(&gram, added, 0)?;
        }
        for (gram, dead) in std::mem::take(&mut self.dead_postings) {
            let gram = gram_text(gram);
            let mut changed = Vec::new();
            for item in self
                .postings
                .range((gram.as_str(), 0)..(gram.as_str(), COUNT_KEY))?
            {
                let (k, v) = item?;
                let mut postings = decode_segment(v.value())?;
                let before = postings.len();
                postings.retain(|(_, doc)| !dead.contains(doc));
                if postings.len() != before {
                    changed.push((k.value().1, before - postings.len(), postings));
                }
            }
            let mut removed = 0u64;
            for (seg, gone, postings) in changed {
                removed += gone as u64;
                if postings.is_empty() {
                    self.postings.remove((gram.as_str(), seg))?;
                } else {
                    self.postings
                        .insert((gram.as_str(), seg), postings::encode(&postings).as_slice())?;
                }
            }
            self.add_gram_count(&gram, 0, removed)?;
        }
        self.meta.insert(META_NEXT_SEGMENT, self.next_segment)?;
        Ok(())
    }

    fn add_gram_count(&mut self, gram: &str, plus: u64, minus: u64) -> Result<(), StoreError> {
        let n = gram_count(&self.postings, gram)?;
        let n = (n + plus).saturating_sub(minus);
        if n == 0 {
            self.postings.remove((gram, COUNT_KEY))?;
        } else {
            self.postings
                .insert((gram, COUNT_KEY), n.encode_var_vec().as_slice())?;
        }
        Ok(())
    }

    /// Deletes the entries first seen before the cutoff and the pages last
    /// crawled before it, of the site, or of every site but the `except`
    /// ones: only the key ranges of those sites are scanned
    /// ([`retention_ranges`]).
    fn retention(&mut self, r: &Retention) -> Result<Result<(), Refusal>, StoreError> {
        let ranges = match retention_ranges(r) {
            Ok(ranges) => ranges,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut old_entries = Vec::new();
        let mut old_pages = Vec::new();
        for (from, to) in &ranges {
            let (from, to) = (from.as_str(), to.as_deref());
            let entries = match to {
                Some(to) => self.entries.range((from, "")..(to, ""))?,
                None => self.entries.range((from, "")..)?,
            };
            for item in entries {
                let (k, v) = item?;
                let (page, id) = k.value();
                let entry = EntryView::from_row(page, id, v.value())?;
                if entry.first_seen < r.cutoff {
                    old_entries.push(entry);
                }
            }
            let pages = match to {
                Some(to) => self.pages.range(from..to)?,
                None => self.pages.range(from..)?,
            };
            for item in pages {
                let (_, v) = item?;
                let page: PageView = from_json("pages", v.value())?;
                if page.last_crawled < r.cutoff {
                    old_pages.push(page.key);
                }
            }
        }
        for e in &old_entries {
            self.unindex(e)?;
            self.delete_entry(&e.page, &e.id)?;
        }
        for key in &old_pages {
            self.delete_page(key)?;
        }
        tracing::debug!(
            site = %r.site,
            except = r.except.len(),
            entries = old_entries.len(),
            pages = old_pages.len(),
            "retention applied"
        );
        Ok(Ok(()))
    }
}

/// The ranges of page keys (`"site.id"`, also the first part of an entry's
/// key) a retention event covers, `[from, to)` (`to` `None`: to the end),
/// in order: the site's, `"site."` up to `"site/"` (`/` follows `.`), or,
/// for [`ALL_SITES`], the whole key space but those of the `except` sites.
/// A site name has no dot, so the keys from `"site."` to `"site/"` are
/// exactly the site's.
fn retention_ranges(r: &Retention) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let site_range = |site: &str| (format!("{site}."), format!("{site}/"));
    if r.site != ALL_SITES {
        if !is_token(&r.site) {
            return Err(format!("retention: \"{}\" is not a site name", r.site));
        }
        if !r.except.is_empty() {
            return Err(format!(
                "retention: `except` goes with site \"{ALL_SITES}\" only, not \"{}\"",
                r.site
            ));
        }
        let (from, to) = site_range(&r.site);
        return Ok(vec![(from, Some(to))]);
    }
    if let Some(bad) = r.except.iter().find(|s| !is_token(s)) {
        return Err(format!("retention: except \"{bad}\" is not a site name"));
    }
    // Sorted by their keys' prefixes (which is not the names' order: "a-b."
    // sorts before "a.").
    let mut skipped: Vec<(String, String)> = r.except.iter().map(|s| site_range(s)).collect();
    skipped.sort_unstable();
    skipped.dedup();
    let mut ranges = Vec::with_capacity(skipped.len() + 1);
    let mut from = String::new();
    for (start, end) in skipped {
        if from < start {
            ranges.push((from, Some(start)));
        }
        from = end;
    }
    ranges.push((from, None));
    Ok(ranges)
}

/// The entry an index row points to. A dangling index row is a bug in the
/// apply logic, reported rather than hidden.
fn indexed_entry(
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

/// The sort key of `page`'s newest entry (its first `page_newest` row).
fn page_head(
    index: &impl ReadableTable<(&'static str, u64, &'static str), u64>,
    page: &str,
) -> Result<Option<u64>, StoreError> {
    let mut range = index.range((page, 0u64, "")..)?;
    Ok(next_of_page(&mut range, page)?.map(|(sort, _)| sort))
}

/// The next `page_newest` row of `range` if it still belongs to `page`:
/// (sort key, entry id).
fn next_of_page(
    range: &mut redb::Range<(&'static str, u64, &'static str), u64>,
    page: &str,
) -> Result<Option<(u64, String)>, StoreError> {
    match range.next().transpose()? {
        Some((k, _)) => {
            let (p, sort, id) = k.value();
            Ok((p == page).then(|| (sort, id.to_owned())))
        }
        None => Ok(None),
    }
}

/// A `page_newest` key: (page, desc(sort key), entry id).
type PageNewestKey = (&'static str, u64, &'static str);

/// `page`'s `page_newest` rows that come after `at` in the newest-overall
/// order (sort key, page, id); `None` if none can.
fn page_range_after<'t>(
    index: &'t redb::ReadOnlyTable<PageNewestKey, u64>,
    page: &str,
    at: &EntryPos,
) -> Result<Option<redb::Range<'t, PageNewestKey, u64>>, StoreError> {
    let range = match page.cmp(at.page.as_str()) {
        // A page before the cursor's: its entries of the cursor's sort key
        // came before the cursor.
        std::cmp::Ordering::Less => match at.sort.checked_add(1) {
            Some(sort) => index.range((page, sort, "")..)?,
            None => return Ok(None),
        },
        std::cmp::Ordering::Greater => index.range((page, at.sort, "")..)?,
        std::cmp::Ordering::Equal => index.range::<(&str, u64, &str)>((
            Bound::Excluded((page, at.sort, at.id.as_str())),
            Bound::Unbounded,
        ))?,
    };
    Ok(Some(range))
}

/// The applied sequence as `txn` sees it (0 when fresh).
fn applied_in(txn: &redb::ReadTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(META)?;
    Ok(meta.get(META_APPLIED)?.map(|v| v.value()).unwrap_or(0))
}

/// How many postings `gram` has (dead ones included until removed).
fn gram_count(
    postings: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    gram: &str,
) -> Result<u64, StoreError> {
    match postings.get((gram, COUNT_KEY))? {
        None => Ok(0),
        Some(v) => u64::decode_var(v.value())
            .map(|(n, _)| n)
            .ok_or_else(|| StoreError::Corrupt {
                table: "postings",
                detail: format!("the count of gram {gram:?} does not decode"),
            }),
    }
}

fn decode_segment(bytes: &[u8]) -> Result<Vec<Posting>, StoreError> {
    postings::decode(bytes).ok_or_else(bad_segment)
}

fn bad_segment() -> StoreError {
    StoreError::Corrupt {
        table: "postings",
        detail: "a segment that does not decode".to_owned(),
    }
}

/// Maps an instant to a key that sorts newest first.
fn desc(t: DateTime<Utc>) -> u64 {
    // Flip the sign bit so that i64 order becomes u64 order, then invert.
    !((t.timestamp_micros() as u64) ^ (1 << 63))
}

/// A bigram, or a text's last character alone, packed in a `u64` (first
/// char high, second low, [`NO_CHAR`] for none), so that indexing a text
/// allocates no strings.
type Gram = u64;
const NO_CHAR: u64 = u32::MAX as u64;

/// Appends to `grams` those `text` is indexed under, lowercased as a
/// search lowercases it (`str::to_lowercase`): its character bigrams and its
/// last character alone (the end-of-text gram), in text order, a gram that
/// recurs appended again. Every character of the text thus begins one of
/// its grams, so a one-character query is answered by the grams that begin
/// with it, without a unigram posting per character (which made the index
/// about twice as big).
fn text_grams(text: &str, grams: &mut Vec<Gram>) {
    let mut prev: Option<char> = None;
    let mut push = |c: char| {
        if let Some(p) = prev {
            grams.push((u64::from(p) << 32) | u64::from(c));
        }
        prev = Some(c);
    };
    if text.contains('Σ') {
        // Its lowercase depends on what follows it: the whole string's way.
        text.to_lowercase().chars().for_each(&mut push);
    } else {
        // One character at a time, with no string built, and no case table
        // looked up for kana and kanji, which have no case.
        for c in text.chars() {
            if CASELESS.contains(&c) {
                push(c);
            } else {
                c.to_lowercase().for_each(&mut push);
            }
        }
    }
    if let Some(last) = prev {
        grams.push((u64::from(last) << 32) | NO_CHAR);
    }
}

/// CJK punctuation, kana and the unified ideographs: no character here has
/// a lowercase other than itself (a unit test checks every one).
const CASELESS: std::ops::RangeInclusive<char> = '\u{3000}'..='\u{9fff}';

/// The text of a packed gram, as it is keyed in `postings`.
fn gram_text(gram: Gram) -> String {
    let char_at = |bits: u64| char::from_u32(bits as u32);
    [char_at(gram >> 32), char_at(gram & NO_CHAR)]
        .into_iter()
        .flatten()
        .collect()
}

/// The grams a (lowercased) query must all appear under: its bigrams; for a
/// single character, that character (the prefix of the grams to read).
fn query_grams(lower: &str) -> Vec<String> {
    let chars: Vec<char> = lower.chars().collect();
    match chars.len() {
        0 => Vec::new(),
        1 => vec![chars[0].to_string()],
        _ => {
            let set: BTreeSet<String> = chars
                .windows(2)
                .map(|w| w.iter().collect::<String>())
                .collect();
            set.into_iter().collect()
        }
    }
}

fn hash_part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn to_json<T: Serialize>(row: &T) -> String {
    // Rows are plain structs of strings, integers and timestamps: they
    // always serialise.
    serde_json::to_string(row).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        table,
        detail: e.to_string(),
    })
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
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        drop(Store::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(META_SCHEMA, SCHEMA_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        match Store::open(&path) {
            Err(StoreError::SchemaVersion { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected a schema refusal, got {:?}", other.err()),
        }
    }

    #[test]
    fn desc_sorts_newest_first() {
        let a: DateTime<Utc> = "1960-01-01T00:00:00Z".parse().unwrap();
        let b: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let c: DateTime<Utc> = "2026-01-01T00:00:01Z".parse().unwrap();
        assert!(desc(c) < desc(b) && desc(b) < desc(a));
    }

    #[test]
    fn grams_are_those_of_the_whole_lowercased_text() {
        let whole = |text: &str| {
            let lower = text.to_lowercase();
            let chars: Vec<char> = lower.chars().collect();
            let mut grams: Vec<Gram> = chars
                .windows(2)
                .map(|w| (u64::from(w[0]) << 32) | u64::from(w[1]))
                .chain(chars.last().map(|&c| (u64::from(c) << 32) | NO_CHAR))
                .collect();
            grams.sort_unstable();
            grams.dedup();
            grams
        };
        for text in [
            "",
            "a",
            "Hello WORLD",
            "今日は渋谷でラーメン、ＡＢＣ全角",
            "ΟΔΟΣ ΟΔΟΣ. Σ",
            "İstanbul ǅ ẞ",
            "ｶﾀｶﾅ Ⅻ ①",
        ] {
            let mut grams = Vec::new();
            text_grams(text, &mut grams);
            grams.sort_unstable();
            grams.dedup();
            assert_eq!(grams, whole(text), "{text:?}");
        }
        for c in CASELESS {
            assert!(c.to_lowercase().eq([c]), "{c:?} has a lowercase");
        }
    }

    #[test]
    fn grams_and_truncation() {
        let mut grams = Vec::new();
        text_grams("abab", &mut grams);
        let g: Vec<String> = grams.into_iter().map(gram_text).collect();
        assert_eq!(
            g,
            ["ab", "ba", "ab", "b"],
            "text order, a recurring gram again"
        );
        assert_eq!(query_grams("渋谷区"), ["渋谷", "谷区"]);
        let long = "日".repeat(2000); // 3 bytes each
        let cut = truncated_lossy(long.as_bytes(), REJECTED_PAYLOAD_MAX);
        assert!(cut.len() <= REJECTED_PAYLOAD_MAX && cut.len() > REJECTED_PAYLOAD_MAX - 3);
        assert_eq!(truncated_lossy(b"\xffok", 10), "\u{fffd}ok");
    }

    fn retention(site: &str, except: &[&str]) -> Retention {
        Retention {
            site: site.into(),
            cutoff: "2026-11-01T00:00:00Z".parse().unwrap(),
            keep_secs: 0,
            except: except.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn covered(ranges: &[(String, Option<String>)], key: &str) -> bool {
        ranges.iter().any(|(from, to)| {
            from.as_str() <= key && to.as_ref().is_none_or(|to| key < to.as_str())
        })
    }

    #[test]
    fn a_retention_of_every_other_site_skips_their_key_ranges() {
        let r = retention(ALL_SITES, &["b", "a", "a-b", "a"]);
        let ranges = retention_ranges(&r).unwrap();
        let owned = |from: &str, to: Option<&str>| (from.to_owned(), to.map(str::to_owned));
        assert_eq!(
            ranges,
            [
                owned("", Some("a-b.")),
                owned("a-b/", Some("a.")),
                owned("a/", Some("b.")),
                owned("b/", None),
            ],
            "\"a-b.\" sorts before \"a.\""
        );
        for key in [
            "a.1", "a.zz", "a-b.7", "b.1", "a-c.1", "a_b.1", "aa.1", "ab.1", "0.1", "bb.1", "c.9",
            "_.1", "-.1", "z.z",
        ] {
            let site = key.split_once('.').unwrap().0;
            assert_eq!(covered(&ranges, key), r.covers(site), "{key}");
        }
        let none = retention_ranges(&retention(ALL_SITES, &[])).unwrap();
        assert_eq!(none, [owned("", None)]);
        let one = retention_ranges(&retention("a", &[])).unwrap();
        assert_eq!(one, [owned("a.", Some("a/"))]);
        assert!(covered(&one, "a.1") && !covered(&one, "a-b.1") && !covered(&one, "aa.1"));
    }

    #[test]
    fn a_retention_that_names_no_site_is_refused() {
        assert!(retention_ranges(&retention("a.b", &[])).is_err());
        assert!(
            retention_ranges(&retention("a", &["b"])).is_err(),
            "except goes with *"
        );
        assert!(retention_ranges(&retention(ALL_SITES, &["ok", "a.b"])).is_err());
        assert!(retention_ranges(&retention(ALL_SITES, &[""])).is_err());
    }

    #[test]
    fn the_digest_sum_subtracts_what_it_added() {
        let a = page_hash("s.1", "{}");
        let b = entry_hash("s.1", "x", b"{}");
        let mut sum = StateSum::default();
        sum.add(&a);
        sum.add(&b);
        sum.add(&b);
        sum.sub(&b);
        sum.sub(&a);
        let mut only_b = StateSum::default();
        only_b.add(&b);
        assert_eq!(sum, only_b);
        sum.sub(&b);
        assert_eq!(sum, StateSum::default());
        // Wrapping: 0 - 1 + 1 == 0.
        let mut one = [0u8; 32];
        one[31] = 1;
        sum.sub(&one);
        assert_eq!(sum.0, [0xff; 32]);
        sum.add(&one);
        assert_eq!(sum, StateSum::default());
    }
}
