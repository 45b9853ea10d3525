//! The search index's posting lists: which entries (by document number) hold
//! a gram, newest first, split into segments of one redb row each. The
//! segment encoding is in `docs/projector-store.md`, "Postings".

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use integer_encoding::VarInt;

use crate::store::StoreError;

/// (newest-first sort key, document number).
pub type Posting = (u64, u64);

/// Encodes postings, sorted, as one segment.
pub fn encode(postings: &[Posting]) -> Vec<u8> {
    debug_assert!(postings.is_sorted(), "postings must be sorted");
    // Written in place, at most 10 bytes a varint, then cut to length.
    let mut out = vec![0u8; 10 * (1 + 3 * postings.len())];
    let mut at = (postings.len() as u64).encode_var(&mut out);
    let (mut prev_sort, mut prev_doc) = (0u64, 0u64);
    for &(sort, doc) in postings {
        let increase = sort - prev_sort;
        if increase % MICROS == 0 {
            at += ((increase / MICROS) << 1 | 1).encode_var(&mut out[at..]);
        } else if increase < 1 << 62 {
            at += (increase << 2).encode_var(&mut out[at..]);
        } else {
            at += WIDE.encode_var(&mut out[at..]);
            at += increase.encode_var(&mut out[at..]);
        }
        // Signed varints are zigzag encoded: a small difference either way
        // takes a byte or two.
        at += (doc.wrapping_sub(prev_doc) as i64).encode_var(&mut out[at..]);
        (prev_sort, prev_doc) = (sort, doc);
    }
    out.truncate(at);
    out
}

/// Microseconds in a second: the sort key's unit.
const MICROS: u64 = 1_000_000;
/// The tag of a sort key increase too large to shift, which follows whole.
const WIDE: u64 = 0b10;

/// How many postings a segment holds (its first varint), without decoding
/// them; `None` if the bytes do not start with a count.
pub fn count(bytes: &[u8]) -> Option<usize> {
    let (n, _) = u64::decode_var(bytes)?;
    usize::try_from(n).ok()
}

/// Two sorted lists of postings as one sorted list.
pub fn merge(a: &[Posting], b: &[Posting]) -> Vec<Posting> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.iter().copied().peekable(), b.iter().copied().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(p) => out.push(p),
            None => return out,
        }
    }
}

/// Decodes a segment; `None` if the bytes are not one.
pub fn decode(bytes: &[u8]) -> Option<Vec<Posting>> {
    let mut cursor = Cursor::new(bytes)?;
    let mut out = Vec::with_capacity(cursor.left.min(bytes.len() / 2));
    while let Some(posting) = cursor.next(bytes) {
        out.push(posting?);
    }
    Some(out)
}

/// Where a reading of a segment's encoded bytes stands, so a search that
/// stops after `limit` hits decodes only what it looked at. The bytes are
/// passed to each call: they stay where redb holds them.
#[derive(Debug)]
pub struct Cursor {
    at: usize,
    left: usize,
    sort: u64,
    doc: u64,
}

impl Cursor {
    /// `None` if the bytes do not start with a count.
    pub fn new(bytes: &[u8]) -> Option<Cursor> {
        let (count, at) = u64::decode_var(bytes)?;
        Some(Cursor {
            at,
            left: usize::try_from(count).ok()?,
            sort: 0,
            doc: 0,
        })
    }

    fn varint<V: VarInt>(&mut self, bytes: &[u8]) -> Option<V> {
        let (v, n) = V::decode_var(bytes.get(self.at..)?)?;
        self.at += n;
        Some(v)
    }

    /// The sort key's increase over the previous posting's.
    fn increase(&mut self, bytes: &[u8]) -> Option<u64> {
        match self.varint::<u64>(bytes)? {
            WIDE => self.varint(bytes),
            tagged if tagged & 1 == 1 => (tagged >> 1).checked_mul(MICROS),
            tagged if tagged & 0b11 == 0 => Some(tagged >> 2),
            _ => None,
        }
    }

    fn posting(&mut self, bytes: &[u8]) -> Option<Posting> {
        let sort = self.sort.checked_add(self.increase(bytes)?)?;
        let doc = self.doc.wrapping_add(self.varint::<i64>(bytes)? as u64);
        (self.sort, self.doc) = (sort, doc);
        Some((sort, doc))
    }

    /// The next posting: `None` at the end, `Some(None)` if the bytes are
    /// not a segment (and the end after that).
    fn next(&mut self, bytes: &[u8]) -> Option<Option<Posting>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let posting = self.posting(bytes);
        if posting.is_none() {
            self.left = 0;
        }
        Some(posting)
    }
}

/// The segments of one gram, in the order of their first postings (the
/// order of their keys): what [`Merged`] opens as its merge reaches them.
pub trait Source {
    /// A segment's row, held while the merge reads it.
    type Row;
    fn bytes(row: &Self::Row) -> &[u8];
    /// The next segment and its first posting; `None` after the last.
    fn next_segment(&mut self) -> Result<Option<(Posting, Self::Row)>, StoreError>;
}

/// Segments held in memory, in the order of their first postings.
#[cfg(test)]
impl Source for std::vec::IntoIter<(Posting, Vec<u8>)> {
    type Row = Vec<u8>;
    fn bytes(row: &Vec<u8>) -> &[u8] {
        row
    }
    fn next_segment(&mut self) -> Result<Option<(Posting, Vec<u8>)>, StoreError> {
        Ok(self.next())
    }
}

/// The postings of the segments of several sources, merged newest first.
/// A segment is read only once the merge reaches its first posting, so a
/// search that stops after its window reads the segments that can hold the
/// window, not every segment of its grams. It yields an error, and then
/// nothing, if a source fails or a segment turns out not to decode.
pub struct Merged<S: Source> {
    sources: Vec<S>,
    /// Each source's next segment, read but not opened.
    next_rows: Vec<Option<S::Row>>,
    /// (first posting, source) of each source's next segment.
    pending: BinaryHeap<Reverse<(Posting, usize)>>,
    open: Vec<(S::Row, Cursor)>,
    /// (next posting, open segment).
    heap: BinaryHeap<Reverse<(Posting, usize)>>,
    broken: Option<StoreError>,
}

impl<S: Source> Merged<S> {
    pub fn new(sources: Vec<S>) -> Merged<S> {
        let mut merged = Merged {
            next_rows: sources.iter().map(|_| None).collect(),
            sources,
            pending: BinaryHeap::new(),
            open: Vec::new(),
            heap: BinaryHeap::new(),
            broken: None,
        };
        for s in 0..merged.sources.len() {
            merged.read_next_segment(s);
        }
        merged
    }

    fn read_next_segment(&mut self, s: usize) {
        match self.sources[s].next_segment() {
            Ok(Some((first, row))) => {
                self.next_rows[s] = Some(row);
                self.pending.push(Reverse((first, s)));
            }
            Ok(None) => {}
            Err(e) => self.broken = Some(e),
        }
    }

    /// Opens the pending segment with the newest first posting: its first
    /// posting goes on the heap.
    fn open_next(&mut self) {
        let Some(Reverse((_, s))) = self.pending.pop() else {
            return;
        };
        let Some(row) = self.next_rows[s].take() else {
            return;
        };
        self.read_next_segment(s);
        match Cursor::new(S::bytes(&row)) {
            Some(cursor) => {
                self.open.push((row, cursor));
                self.advance(self.open.len() - 1);
            }
            None => self.broken = Some(bad_segment()),
        }
    }

    /// Opens every pending segment that starts at or before the newest
    /// open posting, so the heap's top is the merge's next posting.
    fn settle(&mut self) {
        while let Some(&Reverse((first, _))) = self.pending.peek() {
            if self.broken.is_some() || self.heap.peek().is_some_and(|Reverse((p, _))| *p < first) {
                return;
            }
            self.open_next();
        }
    }

    fn advance(&mut self, i: usize) {
        let (row, cursor) = &mut self.open[i];
        match cursor.next(S::bytes(row)) {
            Some(Some(posting)) => self.heap.push(Reverse((posting, i))),
            Some(None) => self.broken = Some(bad_segment()),
            None => {}
        }
    }

    /// The error that broke the merge, once; nothing is left after it.
    fn take_broken(&mut self) -> Option<StoreError> {
        let e = self.broken.take()?;
        self.heap.clear();
        self.pending.clear();
        Some(e)
    }

    /// The posting `next` would yield, without taking it.
    pub fn peek(&mut self) -> Option<Result<Posting, StoreError>> {
        self.settle();
        if let Some(e) = self.take_broken() {
            return Some(Err(e));
        }
        self.heap.peek().map(|Reverse((posting, _))| Ok(*posting))
    }

    /// Passes over every posting before `target`: a segment that starts
    /// at or after it stays unread, and each one behind it is read on to it
    /// in one go, touching the heap once a segment, not once a posting.
    pub fn seek(&mut self, target: Posting) {
        while let Some(&Reverse((first, _))) = self.pending.peek() {
            if first >= target || self.broken.is_some() {
                break;
            }
            self.open_next();
        }
        while let Some(&Reverse((posting, i))) = self.heap.peek() {
            if posting >= target || self.broken.is_some() {
                return;
            }
            self.heap.pop();
            let (row, cursor) = &mut self.open[i];
            let bytes = S::bytes(row);
            loop {
                match cursor.next(bytes) {
                    Some(Some(p)) if p < target => {}
                    Some(Some(p)) => {
                        self.heap.push(Reverse((p, i)));
                        break;
                    }
                    Some(None) => {
                        self.broken = Some(bad_segment());
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    /// How many segments the merge has read: for the tests.
    #[cfg(test)]
    fn opened(&self) -> usize {
        self.open.len()
    }
}

impl<S: Source> Iterator for Merged<S> {
    type Item = Result<Posting, StoreError>;

    fn next(&mut self) -> Option<Result<Posting, StoreError>> {
        self.settle();
        if let Some(e) = self.take_broken() {
            return Some(Err(e));
        }
        let Reverse((posting, i)) = self.heap.pop()?;
        self.advance(i);
        Some(Ok(posting))
    }
}

pub fn bad_segment() -> StoreError {
    StoreError::Corrupt {
        table: "postings",
        detail: "a segment that does not decode".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_round_trips_sorted() {
        let postings = [(10, 1_000_000), (30, 2), (30, 7), (u64::MAX, 0)];
        let bytes = encode(&postings);
        assert_eq!(count(&bytes), Some(4));
        assert_eq!(
            decode(&bytes).unwrap(),
            [(10, 1_000_000), (30, 2), (30, 7), (u64::MAX, 0)]
        );
        assert_eq!(decode(&encode(&[])).unwrap(), []);
        assert!(decode(&[5, 1]).is_none(), "a truncated segment");
        assert!(decode(&[1, 6, 0]).is_none(), "an unknown tag");
        assert!(decode(&[]).is_none());
    }

    #[test]
    fn every_kind_of_increase_round_trips() {
        let s = 1_700_000_000 * MICROS;
        let postings = [
            (0, u64::MAX), // a document number wrapping downwards
            (s, 0),        // whole seconds from 0
            (s, 5),        // the same instant
            (s + 1, 3),    // a microsecond, a lower document
            (s + 1 + 60 * MICROS, 4_000_000_000),
            ((1 << 62) + s, 7), // too large to shift: in full
            (u64::MAX - 1, 8),
            (u64::MAX, 8),
        ];
        let bytes = encode(&postings);
        assert_eq!(decode(&bytes).unwrap(), postings);
        // Whole seconds a minute apart, documents numbered in that order:
        // two bytes a posting.
        let minutes: Vec<Posting> = (0..100).map(|i| (s + i * 60 * MICROS, 1000 + i)).collect();
        assert_eq!(decode(&encode(&minutes)).unwrap(), minutes);
        assert!(encode(&minutes).len() < 2 * 100 + 12);
    }

    /// One source of the segments given, in the order of their first postings.
    fn source(lists: &[Vec<Posting>]) -> std::vec::IntoIter<(Posting, Vec<u8>)> {
        let mut rows: Vec<(Posting, Vec<u8>)> = lists
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| (l[0], encode(l)))
            .collect();
        rows.sort();
        rows.into_iter()
    }

    /// A source whose second segment does not decode.
    fn broken_source() -> std::vec::IntoIter<(Posting, Vec<u8>)> {
        vec![((7, 7), encode(&[(7, 7)])), ((8, 8), vec![3, 1])].into_iter()
    }

    fn postings<S: Source>(merged: Merged<S>) -> Vec<Posting> {
        merged.map(|p| p.unwrap()).collect()
    }

    #[test]
    fn segments_merge_newest_first() {
        let merged = Merged::new(vec![
            source(&[vec![(1, 1), (5, 5)], vec![(2, 2), (3, 3), (9, 9)]]),
            source(&[vec![(4, 4)], vec![(0, 0), (5, 5)]]),
            source(&[]),
        ]);
        assert_eq!(
            postings(merged),
            [
                (0, 0),
                (1, 1),
                (2, 2),
                (3, 3),
                (4, 4),
                (5, 5),
                (5, 5),
                (9, 9)
            ]
        );
        let broken: Vec<Result<Posting, String>> = Merged::new(vec![broken_source()])
            .map(|p| p.map_err(|e| e.to_string()))
            .collect();
        assert_eq!(broken.len(), 2, "{broken:?}");
        assert_eq!(broken[0], Ok((7, 7)));
        assert!(broken[1].as_ref().is_err_and(|e| e.contains("postings")));
    }

    #[test]
    fn a_segment_is_read_only_once_the_merge_reaches_its_first_posting() {
        // Ten segments of ten postings each, interleaved: segment k holds
        // k, k + 10, k + 20, ...
        let lists: Vec<Vec<Posting>> = (0..10)
            .map(|k| (0..10).map(|n| (k + 10 * n, k + 10 * n)).collect())
            .collect();
        let mut merged = Merged::new(vec![source(&lists)]);
        for want in 0..4 {
            assert_eq!(merged.next().unwrap().unwrap(), (want, want));
        }
        // Segments 0 to 3 and the one whose first posting is next.
        assert_eq!(merged.peek().unwrap().unwrap(), (4, 4));
        assert_eq!(merged.opened(), 5);
        // Disjoint segments, newest first: a window of three opens one.
        let runs: Vec<Vec<Posting>> = (0..10)
            .map(|k| (0..10).map(|n| (10 * k + n, 10 * k + n)).collect())
            .collect();
        let mut merged = Merged::new(vec![source(&runs)]);
        let window: Vec<Posting> = merged.by_ref().take(3).map(|p| p.unwrap()).collect();
        assert_eq!(window, [(0, 0), (1, 1), (2, 2)]);
        assert_eq!(merged.opened(), 1);
        // A seek opens only the segments that start before its target.
        merged.seek((55, 0));
        assert_eq!(merged.peek().unwrap().unwrap(), (55, 55));
        assert_eq!(merged.opened(), 6);
        assert_eq!(postings(merged).len(), 45);
    }

    #[test]
    fn a_seek_passes_over_exactly_the_postings_before_its_target() {
        let lists: [Vec<Posting>; 3] = [
            (0..40).map(|n| (n * 3, n)).collect(),
            (0..25).map(|n| (n * 5 + 1, 100 + n)).collect(),
            vec![(7, 7)],
        ];
        let all = merge(&merge(&lists[0], &lists[1]), &lists[2]);
        let open = || Merged::new(vec![source(&lists[..2]), source(&lists[2..])]);
        for target in [(0, 0), (6, 2), (6, 3), (7, 0), (50, 0), (200, 0)] {
            let mut merged = open();
            merged.seek(target);
            let want: Vec<Posting> = all.iter().copied().filter(|&p| p >= target).collect();
            assert_eq!(
                merged.peek().map(|p| p.unwrap()),
                want.first().copied(),
                "{target:?}"
            );
            assert_eq!(postings(merged), want);
        }
        // Seeks one after another, then the rest.
        let mut merged = open();
        merged.seek((10, 0));
        merged.seek((9, 0));
        assert_eq!(merged.next().unwrap().unwrap(), (11, 102));
        merged.seek((60, 0));
        assert_eq!(merged.next().unwrap().unwrap(), (60, 20));
        let mut broken = Merged::new(vec![broken_source()]);
        broken.seek((100, 0));
        assert!(broken.peek().is_some_and(|p| p.is_err()));
        assert!(broken.next().is_none());
    }

    #[test]
    fn sorted_lists_merge_sorted() {
        assert_eq!(
            merge(&[(1, 1), (3, 3), (3, 9)], &[(0, 5), (3, 4), (7, 7)]),
            [(0, 5), (1, 1), (3, 3), (3, 4), (3, 9), (7, 7)]
        );
        assert_eq!(merge(&[], &[(2, 2)]), [(2, 2)]);
        assert_eq!(merge(&[(2, 2)], &[]), [(2, 2)]);
    }
}
