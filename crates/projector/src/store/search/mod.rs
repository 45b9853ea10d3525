//! The search index: an entry's text is indexed under its grams
//! (`grams.rs`), the postings of a batch are appended as one run and runs
//! merged level by level ([`runs`]), each gram's postings in a run kept as
//! chunks ([`postings`]), and a document number names its entry through
//! [`doc_blocks`] (`docs/projector-store.md`, "The search index").

pub mod doc_blocks;
mod grams;
pub mod postings;
mod runs;

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::apply::Tables;
use super::list::Collector;
use super::rows::{indexed_entry, EntryView};
use super::tables::{DOC_BLOCKS, ENTRIES, META_NEXT_DOC, META_NEXT_RUN};
use super::{Listed, Store, StoreError, Window};
use grams::{query_keys, QueryKeys};
pub(super) use grams::{text_grams, Gram};
use postings::{Cursor, Merged, Posting};
use runs::{
    bad_chunk, count_in, gram_keys, live_runs, prefix_keys, write_gram, Run, LEVELS, MERGE_AT,
};
pub(super) use runs::{RunRows, LEVEL_TABLES, RUNS};

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

impl Store {
    /// Entries whose text contains `query`, ignoring case (Unicode
    /// lowercase), newest first: see `docs/projector-store.md`, "Searching".
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
        let Some(keys) = query_keys(&needle) else {
            return Ok(list.finish());
        };
        if window.limit == 0 {
            return Ok(list.finish());
        }
        let txn = self.db.begin_read()?;
        let runs = live_runs(&txn.open_table(RUNS)?)?;
        let levels = LEVEL_TABLES
            .iter()
            .map(|t| txn.open_table(*t))
            .collect::<Result<Vec<_>, _>>()?;
        // What to read, in every run: for one character, every gram that
        // starts with it (its bigrams, and its end-of-text gram, the
        // character alone); else the query's rarest bigram.
        let mut rows = Vec::new();
        match keys {
            QueryKeys::Prefix(first) => {
                for run in &runs {
                    for item in levels[run.level].range(prefix_keys(run.id, first))? {
                        rows.push(item?.1);
                    }
                }
            }
            QueryKeys::Bigrams(grams) => {
                let mut rarest: Option<(Gram, u64)> = None;
                for &gram in &grams {
                    let mut n = 0;
                    for run in &runs {
                        n += count_in(&levels[run.level], run.id, gram)?;
                    }
                    if n == 0 {
                        return Ok(list.finish());
                    }
                    if rarest.is_none_or(|(_, m)| n < m) {
                        rarest = Some((gram, n));
                    }
                }
                let Some((gram, _)) = rarest else {
                    return Ok(list.finish());
                };
                for run in &runs {
                    for item in levels[run.level].range(gram_keys(run.id, gram))? {
                        rows.push(item?.1);
                    }
                }
            }
        }
        // The chunks are read where redb's cache holds them, not copied:
        // a common character's run to 18 MB, and a copy that size per
        // search left that much in the heap of the thread that made it.
        let segments = rows
            .iter()
            .map(|row| Cursor::new(row.value()).ok_or_else(bad_chunk))
            .collect::<Result<Vec<_>, _>>()?;
        let blocks = txn.open_table(DOC_BLOCKS)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut merged = Merged::new(segments).peekable();
        let mut last = None;
        let mut checked = 0usize;
        let mut last_checked = None;
        while let Some(posting) = merged.next() {
            let posting = posting.map_err(|()| bad_chunk())?;
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
                .and_then(|(first, names)| doc_blocks::name(names.value(), doc - first.value()));
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
}

impl Tables<'_> {
    /// Writes the batch's postings as a new run of level 0, removes those
    /// of the documents it killed, and merges every level that is full.
    pub(in crate::store) fn finish_index(&mut self) -> Result<(), StoreError> {
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
        if total > 0 {
            // The run's rows in key order: appended at the end of level 0.
            let run = self.next_run;
            self.next_run += 1;
            let mut order: Vec<usize> = (0..grams.len()).collect();
            order.sort_unstable_by_key(|&slot| grams[slot].0);
            for slot in order {
                let list = &flat[starts[slot]..ends[slot]];
                write_gram(&mut self.levels[0], run, grams[slot].0, list)?;
            }
            self.runs
                .insert(run, (0, self.block_first, self.next_doc))?;
        }
        self.remove_dead_postings()?;
        self.merge_full_levels()?;
        self.meta.insert(META_NEXT_RUN, self.next_run)?;
        Ok(())
    }

    /// Removes the postings of the documents this batch killed from the
    /// runs that hold them.
    fn remove_dead_postings(&mut self) -> Result<(), StoreError> {
        let dead = std::mem::take(&mut self.dead_postings);
        if dead.is_empty() {
            return Ok(());
        }
        let live = live_runs(&self.runs)?;
        for (gram, docs) in dead {
            for run in &live {
                if docs.iter().any(|&d| run.first_doc <= d && d < run.end_doc) {
                    runs::remove_docs(&mut self.levels[run.level], run.id, gram, &|d| {
                        docs.contains(&d)
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Merges the runs of every level that holds [`MERGE_AT`] into one run
    /// of the next, lowest level first.
    fn merge_full_levels(&mut self) -> Result<(), StoreError> {
        for level in 0..LEVELS - 1 {
            let full: Vec<Run> = live_runs(&self.runs)?
                .into_iter()
                .filter(|r| r.level == level)
                .collect();
            if full.len() < MERGE_AT {
                continue;
            }
            let into = self.next_run;
            self.next_run += 1;
            let (low, high) = self.levels.split_at_mut(level + 1);
            runs::merge(&mut low[level], &mut high[0], &full, into)?;
            for r in &full {
                self.runs.remove(r.id)?;
            }
            let first = full.iter().map(|r| r.first_doc).min().unwrap_or(0);
            let end = full.iter().map(|r| r.end_doc).max().unwrap_or(0);
            self.runs.insert(into, ((level + 1) as u64, first, end))?;
        }
        Ok(())
    }
}
