//! The projector's redb file: [`Store`] opens it, applies batches of events
//! and answers the reads. How its tables are laid out and why is in
//! `docs/projector-store.md`.

mod apply;
mod digest;
mod list;
mod newest;
mod prepare;
mod rows;
pub mod search;
mod tables;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pagefeed_events::event::FETCH_FAILURE_REASONS;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata};

pub use list::{Listed, Window};
pub use newest::EntryPos;
pub use prepare::Prepared;
pub use rows::{EntryView, Failure, PageView, Rejected};
pub use search::SearchBudget;
pub use tables::SCHEMA_VERSION;

use list::Collector;
use rows::from_json;
use tables::{applied_in, ENTRIES, PAGES, REJECTED};

/// The longest a committed batch stays unsynced by default (see
/// [`Store::apply_batch`] and [`Store::set_sync_every`]).
pub const DEFAULT_SYNC_EVERY: Duration = Duration::from_secs(1);

/// How much of a rejected payload is kept, in bytes.
pub const REJECTED_PAYLOAD_MAX: usize = 4096;

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
    /// Another process has the file open: a projector of this node runs.
    #[error("the file is in use by another process (a projector of this node is running)")]
    InUse,
    /// A failed [`Store::reopen`] left no file open.
    #[error("the store is closed: it could not be opened again after a storage failure")]
    Closed,
}

/// redb's "Database already open" as [`StoreError::InUse`].
fn in_use(e: StoreError) -> StoreError {
    match e {
        StoreError::Redb(e) if matches!(*e, redb::Error::DatabaseAlreadyOpen) => StoreError::InUse,
        other => other,
    }
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

/// The open redb file, which [`Store::reopen`] replaces.
struct Db {
    path: PathBuf,
    open: RwLock<Option<Database>>,
}

impl Db {
    fn with<T>(&self, f: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let open = self
            .open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(open.as_ref().ok_or(StoreError::Closed)?)
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.with(|db| Ok(db.begin_read()?))
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.with(|db| Ok(db.begin_write()?))
    }
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
    /// `fetch_failed` events applied, by [`FETCH_FAILURE_REASONS`] slot.
    pub fetch_failures: [u32; FETCH_FAILURE_REASONS.len()],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pages: u64,
    pub entries: u64,
    pub rejected: u64,
}

/// The projector's redb database. One process owns the file.
pub struct Store {
    db: Db,
    search_index: bool,
    /// When a batch last committed durably (see [`Store::apply_batch`]).
    durable_at: Mutex<Instant>,
    sync_every: Duration,
}

impl Store {
    /// Opens the store at `path`, creating it (and every table) if missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            db: Db {
                path: path.to_owned(),
                open: RwLock::new(Some(tables::create(path).map_err(in_use)?)),
            },
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

    /// The longest a committed batch stays unsynced.
    pub fn sync_every(&self) -> Duration {
        self.sync_every
    }

    /// Sets how long a committed batch may stay unsynced (zero: every
    /// commit is synced).
    pub fn set_sync_every(&mut self, every: Duration) {
        self.sync_every = every;
    }

    /// Closes the file and opens it again. After a failed write (a full
    /// disk) redb refuses every access to the file, reads included, until
    /// it is opened again; the file then holds its last synced commit
    /// (`applied_seq` may go back, the stream has the rest). On an error the
    /// store stays closed ([`StoreError::Closed`]) until a reopen succeeds.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut open = self
            .db
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // redb opens a file once per process: the old handle goes first.
        drop(open.take());
        *open = Some(tables::create(&self.db.path)?);
        *self.lock_durable_at() = Instant::now();
        Ok(())
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
