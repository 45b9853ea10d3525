//! The search index: an entry's text is indexed under its grams
//! (`grams.rs`), each gram's postings are kept in segments ([`postings`]),
//! and a document number names its entry through [`doc_blocks`]
//! (`docs/projector-store.md`, "The search index").

pub mod doc_blocks;
mod grams;
pub mod postings;

use std::time::{Duration, Instant};

use integer_encoding::VarInt as _;
use redb::ReadableTable;
use rustc_hash::FxHashMap;

use super::apply::Tables;
use super::list::Collector;
use super::rows::{indexed_entry, EntryView};
use super::tables::{COUNT_KEY, DOC_BLOCKS, ENTRIES, META_NEXT_DOC, META_NEXT_SEGMENT, POSTINGS};
use super::{Listed, Store, StoreError, Window};
use grams::{gram_text, query_grams};
pub(super) use grams::{text_grams, Gram};
use postings::{Cursor, Merged, Posting};

/// A batch appends to a gram's last segment while it holds fewer postings
/// than this, and starts a new segment otherwise.
const SMALL_SEGMENT: usize = 256;

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
        let grams = query_grams(&needle);
        if grams.is_empty() || window.limit == 0 {
            return Ok(list.finish());
        }
        let txn = self.db.begin_read()?;
        let postings = txn.open_table(POSTINGS)?;
        // What to read: for one character, every gram that starts with it
        // (its bigrams, and its end-of-text gram, the character alone); else
        // the query's rarest bigram (grams have at most two characters, so
        // the only gram a bigram starts is itself), and the others' postings
        // beside it: a candidate missing from one of them cannot hold the
        // query, and is passed over without reading its entry.
        let (prefix, others) = if let [one] = grams.as_slice() {
            (one.as_str(), Vec::new())
        } else {
            let mut counted = Vec::with_capacity(grams.len());
            for gram in &grams {
                let n = gram_count(&postings, gram)?;
                if n == 0 {
                    return Ok(list.finish());
                }
                counted.push((n, gram.as_str()));
            }
            counted.sort_unstable();
            let (_, rarest) = counted.remove(0);
            (rarest, counted.into_iter().map(|(_, g)| g).collect())
        };
        // The segments are read where redb's cache holds them, not copied:
        // a common character's run to 18 MB, and a copy that size per
        // search left that much in the heap of the thread that made it.
        let rows = segment_rows(&postings, prefix, |gram| gram.starts_with(prefix))?;
        let other_rows = others
            .iter()
            .map(|&other| segment_rows(&postings, other, |gram| gram == other))
            .collect::<Result<Vec<_>, _>>()?;
        let mut others = Others {
            streams: other_rows
                .iter()
                .map(|rows| merged(rows))
                .collect::<Result<_, _>>()?,
        };
        let blocks = txn.open_table(DOC_BLOCKS)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut merged = merged(&rows)?;
        if let Some((sort, doc)) = after {
            merged.seek((sort, doc.saturating_add(1)));
        }
        let mut last = None;
        let mut seen = 0usize;
        let mut checked = 0usize;
        let mut last_checked = None;
        while let Some(posting) = merged.next() {
            let posting = posting.map_err(|()| bad_segment())?;
            // Under several grams (one-character queries), a document comes
            // once per gram, one after the other in the merge.
            if last.replace(posting) == Some(posting) || after.is_some_and(|a| posting <= a) {
                continue;
            }
            seen += 1;
            let out_of_time =
                seen.is_multiple_of(64) && deadline.is_some_and(|d| Instant::now() >= d);
            if checked >= budget.candidates || out_of_time {
                if let Some(at) = last_checked {
                    list.out_of_budget(at);
                }
                break;
            }
            match others.hold(posting)? {
                Held::All => {}
                Held::NotBefore(next) => {
                    // The candidates before `next` are passed over unread.
                    merged.seek(next);
                    last_checked = Some(posting);
                    continue;
                }
                Held::NoMore => break,
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

/// The segment rows of the grams from `first` on while `wanted` holds.
fn segment_rows<'t>(
    postings: &'t redb::ReadOnlyTable<(&'static str, u64), &'static [u8]>,
    first: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<redb::AccessGuard<'t, &'static [u8]>>, StoreError> {
    let mut rows = Vec::new();
    for item in postings.range((first, 0)..)? {
        let (k, v) = item?;
        let (gram, segment) = k.value();
        if !wanted(gram) {
            break;
        }
        if segment != COUNT_KEY {
            rows.push(v);
        }
    }
    Ok(rows)
}

fn merged<'a>(rows: &'a [redb::AccessGuard<'_, &'static [u8]>]) -> Result<Merged<'a>, StoreError> {
    let segments = rows
        .iter()
        .map(|row| Cursor::new(row.value()).ok_or_else(bad_segment))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Merged::new(segments))
}

/// The postings of a query's other bigrams, read alongside its rarest one's.
struct Others<'a> {
    streams: Vec<Merged<'a>>,
}

/// Whether a candidate is among the postings of every other bigram.
enum Held {
    All,
    /// No: and no candidate before this posting is either.
    NotBefore(Posting),
    /// One of them has nothing left at or past the candidate: no later
    /// candidate can hold the query either.
    NoMore,
}

impl Others<'_> {
    /// Reads each other bigram's postings on to `posting` (they come in the
    /// same order as the candidates, so none is read twice).
    fn hold(&mut self, posting: Posting) -> Result<Held, StoreError> {
        for stream in &mut self.streams {
            stream.seek(posting);
            match stream.peek() {
                None => return Ok(Held::NoMore),
                Some(Err(())) => return Err(bad_segment()),
                Some(Ok(p)) if p == posting => {}
                Some(Ok(p)) => return Ok(Held::NotBefore(p)),
            }
        }
        Ok(Held::All)
    }
}

impl Tables<'_> {
    /// Writes the batch's postings (appending to each gram's last segment
    /// while it is small) and removes those of the documents it killed.
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
