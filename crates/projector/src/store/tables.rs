//! Every redb table of the store, its keys, and the schema version: the
//! layout is described in `docs/projector-store.md`.

use std::cmp::Ordering;
use std::path::Path;

use redb::{Database, Key, ReadableTable, TableDefinition, TypeName, Value};

use super::StoreError;

/// Version of the table layout; `open` refuses a file written by a newer one.
/// 11: times bounded by the message's (an older file may hold later ones,
/// so it is rebuilt). 12: pages in natural order ([`PageKeyOrder`]).
/// 13: a gram's segments keyed by their first postings.
pub const SCHEMA_VERSION: u64 = 13;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const PAGES: TableDefinition<PageKeyOrder, &str> = TableDefinition::new("pages");
pub(super) const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
pub(super) const PAGE_NEWEST: TableDefinition<(&str, u64, &str), u64> =
    TableDefinition::new("page_newest");
pub(super) const PAGE_HEADS: TableDefinition<(u64, &str), ()> = TableDefinition::new("page_heads");
pub(super) const DOC_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("doc_blocks");
pub(super) const DOC_BLOCK_LIVE: TableDefinition<u64, u64> = TableDefinition::new("doc_block_live");
/// `(gram, first posting's sort key, its document)`: a gram's segments in
/// the order of their first postings, after its head at `(gram, 0, 0)`.
pub(super) const POSTINGS: TableDefinition<(&str, u64, u64), &[u8]> =
    TableDefinition::new("postings");
pub(super) const REJECTED: TableDefinition<u64, &str> = TableDefinition::new("rejected");
pub(super) const DIGEST: TableDefinition<&str, &[u8; 32]> = TableDefinition::new("digest");

pub(super) const META_SCHEMA: &str = "schema_version";
pub(super) const META_APPLIED: &str = "applied_seq";
pub(super) const META_NEXT_DOC: &str = "next_doc";

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

/// A page key (`site.id`), stored as its UTF-8 text and ordered as people
/// count: by site, then numeric ids by number (`sample.2` before
/// `sample.10`), before other ids, which go by their bytes.
#[derive(Debug)]
pub(super) struct PageKeyOrder;

impl Value for PageKeyOrder {
    type SelfType<'a> = &'a str;
    type AsBytes<'a> = &'a str;

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> &'a str
    where
        Self: 'a,
    {
        // Only this store writes the keys, as text; a damaged one reads
        // as the empty key rather than stopping the node.
        std::str::from_utf8(data).unwrap_or_default()
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a &'b str) -> &'a str
    where
        Self: 'b,
    {
        value
    }

    fn type_name() -> TypeName {
        TypeName::new("pagefeed::PageKeyOrder")
    }
}

impl Key for PageKeyOrder {
    fn compare(a: &[u8], b: &[u8]) -> Ordering {
        natural_order(a, b)
    }
}

/// The order of [`PageKeyOrder`].
pub(super) fn natural_order(a: &[u8], b: &[u8]) -> Ordering {
    fn split(key: &[u8]) -> (&[u8], &[u8]) {
        match key.iter().position(|&c| c == b'.') {
            Some(dot) => (&key[..dot], &key[dot + 1..]),
            None => (key, &[]),
        }
    }
    fn number(id: &[u8]) -> Option<&[u8]> {
        let digits = !id.is_empty() && id.iter().all(u8::is_ascii_digit);
        digits.then(|| {
            let start = id.iter().position(|&c| c != b'0').unwrap_or(id.len());
            &id[start..]
        })
    }
    let ((site_a, id_a), (site_b, id_b)) = (split(a), split(b));
    site_a
        .cmp(site_b)
        .then_with(|| match (number(id_a), number(id_b)) {
            (Some(x), Some(y)) => x.len().cmp(&y.len()).then(x.cmp(y)).then(id_a.cmp(id_b)),
            (Some(_), None) if !id_b.is_empty() => Ordering::Less,
            (None, Some(_)) if !id_a.is_empty() => Ordering::Greater,
            _ => id_a.cmp(id_b),
        })
        // Two keys are one only when their bytes are (`sample` and `sample.`
        // are two).
        .then_with(|| a.cmp(b))
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
    fn page_keys_go_in_natural_order() {
        let mut keys = vec![
            "sample.100",
            "sample.10",
            "sample.2",
            "sample.1",
            "sample.rust",
            "sample.010",
            "blogs.nats",
            "sample.",
            "sample2.1",
            "sample",
            "sample.9a",
        ];
        keys.sort_by(|a, b| natural_order(a.as_bytes(), b.as_bytes()));
        assert_eq!(
            keys,
            [
                "blogs.nats",
                "sample",
                "sample.",
                "sample.1",
                "sample.2",
                "sample.010",
                "sample.10",
                "sample.100",
                "sample.9a",
                "sample.rust",
                "sample2.1",
            ]
        );
    }

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
