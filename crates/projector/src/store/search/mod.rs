//! The search index: an entry's text is indexed under its grams
//! (`grams.rs`), each gram's postings are kept in segments ([`postings`]),
//! and a document number names its entry through [`doc_blocks`]
//! (`docs/projector-store.md`, "The search index").

pub mod doc_blocks;
mod grams;
pub mod postings;

use std::ops::Bound;
use std::time::{Duration, Instant};

use integer_encoding::VarInt as _;
use redb::ReadableTable;
use rustc_hash::FxHashMap;

use super::apply::Tables;
use super::list::Collector;
use super::rows::{indexed_entry, EntryView};
use super::tables::{DOC_BLOCKS, ENTRIES, META_NEXT_DOC, POSTINGS};
use super::{Listed, Store, StoreError, Window};
use grams::{gram_text, query_grams};
pub(super) use grams::{text_grams, Gram};
use postings::{bad_segment, Merged, Posting, Source};

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
        // A gram's segments are keyed by their first postings, so each is
        // read only once the merge reaches it: a window of 20 reads the few
        // segments that hold it, not all of a common gram's.
        let sources = if prefix.chars().nth(1).is_none() {
            grams_from(&postings, prefix)?
                .iter()
                .map(|gram| gram_segments(&postings, gram))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            // A bigram starts no gram but itself.
            vec![gram_segments(&postings, prefix)?]
        };
        let mut others = Others {
            streams: others
                .iter()
                .map(|other| Ok(Merged::new(vec![gram_segments(&postings, other)?])))
                .collect::<Result<_, StoreError>>()?,
        };
        let blocks = txn.open_table(DOC_BLOCKS)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut merged = Merged::new(sources);
        if let Some((sort, doc)) = after {
            merged.seek((sort, doc.saturating_add(1)));
        }
        let mut last = None;
        let mut seen = 0usize;
        let mut checked = 0usize;
        let mut last_checked = None;
        while let Some(posting) = merged.next() {
            let posting = posting?;
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
                    match merged.peek() {
                        Some(Err(e)) => return Err(e),
                        Some(Ok(_)) => list.more(),
                        None => {}
                    }
                    break;
                }
            }
        }
        Ok(list.finish())
    }
}

type PostingsTable = redb::ReadOnlyTable<(&'static str, u64, u64), &'static [u8]>;

/// The grams that start with `prefix`, found a key lookup each: a gram's
/// segments are passed over, not read.
fn grams_from(postings: &PostingsTable, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut grams = Vec::new();
    let mut next = postings.range((prefix, 0, 0)..)?.next();
    while let Some(item) = next {
        let (k, _) = item?;
        let (gram, _, _) = k.value();
        if !gram.starts_with(prefix) {
            break;
        }
        let gram = gram.to_owned();
        // The gram's head comes first, its segments after it: what follows
        // the last possible segment key is the next gram's head.
        let after = segment_key(&gram, LAST);
        next = postings
            .range::<(&str, u64, u64)>((Bound::Excluded(after), Bound::Unbounded))?
            .next();
        grams.push(gram);
    }
    Ok(grams)
}

/// A gram's segments in the order of their keys (their first postings).
struct GramSegments {
    rows: redb::Range<'static, (&'static str, u64, u64), &'static [u8]>,
}

fn gram_segments(postings: &PostingsTable, gram: &str) -> Result<GramSegments, StoreError> {
    Ok(GramSegments {
        rows: postings.range(segment_key(gram, FIRST)..=segment_key(gram, LAST))?,
    })
}

impl Source for GramSegments {
    type Row = redb::AccessGuard<'static, &'static [u8]>;

    fn bytes(row: &Self::Row) -> &[u8] {
        row.value()
    }

    fn next_segment(&mut self) -> Result<Option<(Posting, Self::Row)>, StoreError> {
        match self.rows.next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                let (_, sort, doc) = k.value();
                Ok(Some(((sort, doc), v)))
            }
        }
    }
}

/// The postings of a query's other bigrams, read alongside its rarest one's.
struct Others {
    streams: Vec<Merged<GramSegments>>,
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

impl Others {
    /// Reads each other bigram's postings on to `posting` (they come in the
    /// same order as the candidates, so none is read twice).
    fn hold(&mut self, posting: Posting) -> Result<Held, StoreError> {
        for stream in &mut self.streams {
            stream.seek(posting);
            match stream.peek() {
                None => return Ok(Held::NoMore),
                Some(Err(e)) => return Err(e),
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
            let Some(&add_first) = add.first() else {
                continue;
            };
            let gram = gram_text(gram);
            let mut head = gram_head(&self.postings, &gram)?;
            // The segment batches append to: the head names it while it is
            // small.
            let open = match head.open {
                Some(first) => match self.postings.get(segment_key(&gram, first))? {
                    Some(v) => Some((first, decode_segment(v.value())?)),
                    None => {
                        return Err(StoreError::Corrupt {
                            table: "postings",
                            detail: format!("gram {gram:?} names a segment it lacks"),
                        })
                    }
                },
                None => None,
            };
            let (first, bytes) = match open {
                Some((old_first, old)) => {
                    let all = postings::merge(&old, add);
                    // Keyed by its first posting: a newer one moves the row.
                    if all[0] != old_first {
                        self.postings.remove(segment_key(&gram, old_first))?;
                    }
                    (all[0], postings::encode(&all))
                }
                None => (add_first, postings::encode(add)),
            };
            self.postings
                .insert(segment_key(&gram, first), bytes.as_slice())?;
            head.count += add.len() as u64;
            // Once full, it is not read again: the next batch starts a new
            // one without looking at it.
            head.open = (postings::count(&bytes) < Some(SMALL_SEGMENT)).then_some(first);
            self.put_gram_head(&gram, &head)?;
        }
        for (gram, dead) in std::mem::take(&mut self.dead_postings) {
            let gram = gram_text(gram);
            let mut changed = Vec::new();
            for item in self
                .postings
                .range(segment_key(&gram, FIRST)..=segment_key(&gram, LAST))?
            {
                let (k, v) = item?;
                let mut postings = decode_segment(v.value())?;
                let before = postings.len();
                postings.retain(|(_, doc)| !dead.contains(doc));
                if postings.len() != before {
                    let (_, sort, doc) = k.value();
                    changed.push(((sort, doc), before - postings.len(), postings));
                }
            }
            let mut head = gram_head(&self.postings, &gram)?;
            for (first, gone, postings) in changed {
                head.count = head.count.saturating_sub(gone as u64);
                self.postings.remove(segment_key(&gram, first))?;
                let new_first = postings.first().copied();
                if let Some(new_first) = new_first {
                    self.postings.insert(
                        segment_key(&gram, new_first),
                        postings::encode(&postings).as_slice(),
                    )?;
                }
                if head.open == Some(first) {
                    head.open = new_first;
                }
            }
            self.put_gram_head(&gram, &head)?;
        }
        Ok(())
    }

    fn put_gram_head(&mut self, gram: &str, head: &GramHead) -> Result<(), StoreError> {
        if head.count == 0 {
            self.postings.remove(segment_key(gram, HEAD))?;
        } else {
            self.postings
                .insert(segment_key(gram, HEAD), head.encode().as_slice())?;
        }
        Ok(())
    }
}

/// The key of a gram's segment whose first posting is `first`.
fn segment_key(gram: &str, first: Posting) -> (&str, u64, u64) {
    (gram, first.0, first.1)
}

/// Where a gram's [`GramHead`] is kept: before its segments, since no
/// posting has sort key 0 (`desc` of a time chrono cannot hold), and so
/// beside the segments batches add (their first postings are mostly
/// among the newest).
const HEAD: Posting = (0, 0);
/// The bounds of every segment key of a gram.
const FIRST: Posting = (1, 0);
const LAST: Posting = (u64::MAX, u64::MAX);

/// A gram's postings count (dead ones included until removed) and the
/// first posting of the segment batches append to, while that one holds
/// fewer than [`SMALL_SEGMENT`].
#[derive(Debug, Default)]
struct GramHead {
    count: u64,
    open: Option<Posting>,
}

impl GramHead {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.count.encode_var_vec();
        if let Some((sort, doc)) = self.open {
            out.extend(sort.encode_var_vec());
            out.extend(doc.encode_var_vec());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<GramHead> {
        let (count, n) = u64::decode_var(bytes)?;
        let rest = &bytes[n..];
        let open = if rest.is_empty() {
            None
        } else {
            let (sort, n) = u64::decode_var(rest)?;
            let (doc, m) = u64::decode_var(&rest[n..])?;
            if n + m != rest.len() {
                return None;
            }
            Some((sort, doc))
        };
        Some(GramHead { count, open })
    }
}

fn gram_head(
    postings: &impl ReadableTable<(&'static str, u64, u64), &'static [u8]>,
    gram: &str,
) -> Result<GramHead, StoreError> {
    match postings.get(segment_key(gram, HEAD))? {
        None => Ok(GramHead::default()),
        Some(v) => GramHead::decode(v.value()).ok_or_else(|| StoreError::Corrupt {
            table: "postings",
            detail: format!("the count of gram {gram:?} does not decode"),
        }),
    }
}

/// How many postings `gram` has (dead ones included until removed).
fn gram_count(
    postings: &impl ReadableTable<(&'static str, u64, u64), &'static [u8]>,
    gram: &str,
) -> Result<u64, StoreError> {
    Ok(gram_head(postings, gram)?.count)
}

fn decode_segment(bytes: &[u8]) -> Result<Vec<Posting>, StoreError> {
    postings::decode(bytes).ok_or_else(bad_segment)
}
