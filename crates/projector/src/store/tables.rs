//! Every redb table of the store, its keys, and the schema version: the
//! layout is described in `docs/projector-store.md`.

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};

use super::StoreError;

/// Version of the table layout; `open` refuses a file written by a newer one.
/// 11: times bounded by the message's (an older file may hold later ones,
/// so it is rebuilt).
pub const SCHEMA_VERSION: u64 = 11;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const PAGES: TableDefinition<&str, &str> = TableDefinition::new("pages");
pub(super) const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
pub(super) const PAGE_NEWEST: TableDefinition<(&str, u64, &str), u64> =
    TableDefinition::new("page_newest");
pub(super) const PAGE_HEADS: TableDefinition<(u64, &str), ()> = TableDefinition::new("page_heads");
pub(super) const DOC_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("doc_blocks");
pub(super) const DOC_BLOCK_LIVE: TableDefinition<u64, u64> = TableDefinition::new("doc_block_live");
pub(super) const POSTINGS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("postings");
/// The segment number under which a gram's postings count is kept: after
/// every segment of the gram, so next to the one batches append to.
pub(super) const COUNT_KEY: u64 = u64::MAX;
pub(super) const REJECTED: TableDefinition<u64, &str> = TableDefinition::new("rejected");
pub(super) const DIGEST: TableDefinition<&str, &[u8; 32]> = TableDefinition::new("digest");

pub(super) const META_SCHEMA: &str = "schema_version";
pub(super) const META_APPLIED: &str = "applied_seq";
pub(super) const META_NEXT_DOC: &str = "next_doc";
pub(super) const META_NEXT_SEGMENT: &str = "next_segment";

/// redb's page cache. Larger did not apply faster (the OS page cache holds
/// the file; 64 MiB and 32 MiB applied 300k entries at the same rate) but
/// cost its size in resident memory.
pub(super) const CACHE_BYTES: usize = 32 * 1024 * 1024;
pub(super) const DIGEST_STATE: &str = "state";

/// Opens the file at `path`, creating it if missing, checks its schema
/// version and creates every table, so reads never meet a missing one.
pub(super) fn create(path: &Path) -> Result<Database, StoreError> {
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
    Ok(db)
}

/// The applied sequence as `txn` sees it (0 when fresh).
pub(super) fn applied_in(txn: &redb::ReadTransaction) -> Result<u64, StoreError> {
    let meta = txn.open_table(META)?;
    Ok(meta.get(META_APPLIED)?.map(|v| v.value()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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
}
