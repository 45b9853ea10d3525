//! How events become rows: one write transaction per batch, each event
//! checked against the limits and applied, or recorded as rejected.
//! Nothing that decides what a row holds looks at the clock
//! (`docs/projector-store.md`).

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use pagefeed_events::event::{fetch_failure_slot, FetchFailed, PageRecord, Retention, ALL_SITES};
use pagefeed_events::subject::is_token;
use redb::{Durability, ReadableTable, Table, WriteTransaction};
use rustc_hash::{FxHashMap, FxHashSet};

use super::digest::{entry_hash, page_hash, StateSum};
use super::prepare::{NewEntry, Prepared, What};
use super::rows::{from_json, to_json, EntryView, Failure, PageView, Rejected};
use super::search::doc_blocks;
use super::search::postings::Posting;
use super::search::{text_grams, Gram};
use super::tables::*;
use super::{ApplyStats, Logged, Store, StoreError};

impl Store {
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
        self.apply_prepared(&self.prepare(batch))
    }

    /// Applies a batch [`Store::prepare`]d (possibly on another thread) in
    /// one write transaction, as [`Store::apply_batch`] does.
    pub fn apply_prepared(&self, batch: &Prepared) -> Result<ApplyStats, StoreError> {
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
            for event in &batch.events {
                let seq = event.seq;
                if seq <= last {
                    stats.skipped += 1;
                    continue;
                }
                let published = event.published;
                let outcome = match &event.what {
                    What::Entry(new) => t.put_entry(new, &batch.grams).map(Ok)?,
                    What::Page(p) => t.put_page(p, published).map(Ok)?,
                    What::Failed(f) => {
                        t.fail_page(f, published)?;
                        stats.fetch_failures[fetch_failure_slot(&f.reason)] += 1;
                        Ok(())
                    }
                    What::Retention(r, payload) => t.retention(r)?.map_err(|reason| Rejected {
                        reason,
                        payload: payload.clone(),
                    }),
                    What::Rejected(rejected) => Err(rejected.clone()),
                };
                match outcome {
                    Ok(()) => stats.applied += 1,
                    Err(row) => {
                        tracing::warn!(seq, reason = %row.reason, "event rejected");
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
}

/// Every table of one write transaction, opened once per batch, and what
/// the batch leaves to its end: [`Tables::finish_docs`] (in
/// `search/doc_blocks.rs`), [`Tables::finish_heads`] (`newest.rs`) and
/// [`Tables::finish_index`] (`search/mod.rs`) write it.
pub(super) struct Tables<'t> {
    pub(super) meta: Table<'t, &'static str, u64>,
    pub(super) pages: Table<'t, PageKeyOrder, &'static str>,
    pub(super) entries: Table<'t, (&'static str, &'static str), &'static [u8]>,
    pub(super) page_newest: Table<'t, (&'static str, u64, &'static str), u64>,
    pub(super) page_heads: Table<'t, (u64, &'static str), ()>,
    pub(super) doc_blocks: Table<'t, u64, &'static [u8]>,
    pub(super) doc_block_live: Table<'t, u64, u64>,
    /// The names of the documents this batch numbers, from `block_first`
    /// on, written in blocks of `BLOCK_DOCS` by `finish_docs`.
    pub(super) block: doc_blocks::BlockBuilder,
    pub(super) block_first: u64,
    /// Documents this batch unindexed (of its own blocks too).
    pub(super) dead_docs: Vec<u64>,
    /// The pages whose entries this batch indexed or unindexed, with their
    /// head (newest sort key) before the batch: `finish_heads` updates
    /// `page_heads` once per page.
    pub(super) touched: HashMap<String, Option<u64>>,
    pub(super) postings: Table<'t, (&'static str, u64, u64), &'static [u8]>,
    /// The documents this batch numbered, with their grams, posted by
    /// [`Tables::finish_index`].
    pub(super) new_docs: Vec<(Posting, std::ops::Range<usize>)>,
    /// The grams of `new_docs`, each document's in its range.
    pub(super) new_grams: Vec<Gram>,
    /// Documents this batch killed, by gram, removed by `finish_index`.
    pub(super) dead_postings: FxHashMap<Gram, FxHashSet<u64>>,
    /// The next document number, stored by `finish_index`.
    pub(super) next_doc: u64,
    pub(super) search_index: bool,
    pub(super) rejected: Table<'t, u64, &'static str>,
    pub(super) digest: Table<'t, &'static str, &'static [u8; 32]>,
    /// The state digest as this batch moves it, stored at its end.
    pub(super) sum: StateSum,
}

/// Why an event was not applied; stored as the rejection reason.
type Refusal = String;

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, StoreError> {
        let meta = txn.open_table(META)?;
        let next_doc = meta.get(META_NEXT_DOC)?.map(|v| v.value()).unwrap_or(0);
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
            block: doc_blocks::BlockBuilder::default(),
            block_first: next_doc,
            dead_docs: Vec::new(),
            touched: HashMap::new(),
            postings: txn.open_table(POSTINGS)?,
            new_docs: Vec::new(),
            new_grams: Vec::new(),
            dead_postings: FxHashMap::default(),
            next_doc,
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
    fn put_entry(&mut self, e: &NewEntry, grams: &[Gram]) -> Result<(), StoreError> {
        let NewEntry {
            entry: new,
            row,
            hash,
            grams: range,
        } = e;
        // The range is the prepare's own: never out of bounds.
        let grams = grams.get(range.clone()).unwrap_or_default();
        let key = (new.page.as_str(), new.id.as_str());
        let old = match self.entries.insert(key, row.as_slice())? {
            Some(v) => Some((
                EntryView::from_row(key.0, key.1, v.value())?,
                entry_hash(key.0, key.1, v.value()),
            )),
            None => None,
        };
        let Some((old, old_hash)) = old else {
            self.sum.add(hash);
            return self.index(new, grams);
        };
        self.sum.sub(&old_hash);
        let mut new = new.clone();
        new.first_seen = old.first_seen.min(new.first_seen);
        new.last_seen = old.last_seen.max(new.last_seen);
        // Same place in the indexes: nothing to move.
        if old.sort_key() != new.sort_key() || old.text != new.text {
            self.unindex(&old)?;
            self.index(&new, grams)?;
        }
        let row = new.row();
        self.entries
            .insert((new.page.as_str(), new.id.as_str()), row.as_slice())?;
        self.sum.add(&entry_hash(&new.page, &new.id, &row));
        Ok(())
    }

    /// Gives the entry a new document number, indexes it as newest under
    /// it and queues its postings under `grams` (its text's).
    fn index(&mut self, e: &EntryView, grams: &[Gram]) -> Result<(), StoreError> {
        let doc = self.next_doc;
        self.next_doc += 1;
        let sort = e.sort_key();
        let (page, id) = (e.page.as_str(), e.id.as_str());
        self.touch(page)?;
        self.page_newest.insert((page, sort, id), doc)?;
        self.block.push(page, id);
        if self.search_index {
            let start = self.new_grams.len();
            self.new_grams.extend_from_slice(grams);
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
        self.dead_docs.push(doc);
        if self.search_index {
            let mut grams = Vec::new();
            text_grams(&e.text, &mut grams);
            for gram in grams {
                self.dead_postings.entry(gram).or_default().insert(doc);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
