//! The search index's posting lists: which entries (by document number) hold
//! a gram, newest first, split into segments of one redb row each. The
//! segment encoding is in `docs/projector-store.md`, "Postings".

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use integer_encoding::VarInt;

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
    while let Some(posting) = cursor.next() {
        out.push(posting?);
    }
    Some(out)
}

/// Reads a segment's postings one at a time from its encoded bytes, so a
/// search that stops after `limit` hits decodes only what it looked at.
#[derive(Debug)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    left: usize,
    sort: u64,
    doc: u64,
}

impl<'a> Cursor<'a> {
    /// `None` if the bytes do not start with a count.
    pub fn new(bytes: &'a [u8]) -> Option<Cursor<'a>> {
        let (count, at) = u64::decode_var(bytes)?;
        Some(Cursor {
            at,
            left: usize::try_from(count).ok()?,
            sort: 0,
            doc: 0,
            bytes,
        })
    }

    fn varint<V: VarInt>(&mut self) -> Option<V> {
        let (v, n) = V::decode_var(self.bytes.get(self.at..)?)?;
        self.at += n;
        Some(v)
    }

    /// The sort key's increase over the previous posting's.
    fn increase(&mut self) -> Option<u64> {
        match self.varint::<u64>()? {
            WIDE => self.varint(),
            tagged if tagged & 1 == 1 => (tagged >> 1).checked_mul(MICROS),
            tagged if tagged & 0b11 == 0 => Some(tagged >> 2),
            _ => None,
        }
    }

    fn posting(&mut self) -> Option<Posting> {
        let sort = self.sort.checked_add(self.increase()?)?;
        let doc = self.doc.wrapping_add(self.varint::<i64>()? as u64);
        (self.sort, self.doc) = (sort, doc);
        Some((sort, doc))
    }

    /// The next posting: `None` at the end, `Some(None)` if the bytes are
    /// not a segment (and the end after that).
    fn next(&mut self) -> Option<Option<Posting>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let posting = self.posting();
        if posting.is_none() {
            self.left = 0;
        }
        Some(posting)
    }
}

/// The postings of several segments, each sorted, merged newest first. It
/// yields `Err(())`, and then nothing, if a segment turns out not to decode.
pub struct Merged<'a> {
    cursors: Vec<Cursor<'a>>,
    heap: BinaryHeap<Reverse<(Posting, usize)>>,
    broken: bool,
}

impl<'a> Merged<'a> {
    pub fn new(cursors: Vec<Cursor<'a>>) -> Merged<'a> {
        let mut merged = Merged {
            cursors,
            heap: BinaryHeap::new(),
            broken: false,
        };
        for i in 0..merged.cursors.len() {
            merged.advance(i);
        }
        merged
    }

    fn advance(&mut self, i: usize) {
        match self.cursors[i].next() {
            Some(Some(posting)) => self.heap.push(Reverse((posting, i))),
            Some(None) => self.broken = true,
            None => {}
        }
    }
}

impl Merged<'_> {
    /// The posting `next` would yield, without taking it.
    pub fn peek(&self) -> Option<Result<Posting, ()>> {
        if self.broken {
            return Some(Err(()));
        }
        self.heap.peek().map(|Reverse((posting, _))| Ok(*posting))
    }

    /// Passes over every posting before `target`: each segment behind it is
    /// read on to it in one go, and the heap is touched once a segment,
    /// not once a posting.
    pub fn seek(&mut self, target: Posting) {
        while let Some(&Reverse((posting, i))) = self.heap.peek() {
            if posting >= target || self.broken {
                return;
            }
            self.heap.pop();
            loop {
                match self.cursors[i].next() {
                    Some(Some(p)) if p < target => {}
                    Some(Some(p)) => {
                        self.heap.push(Reverse((p, i)));
                        break;
                    }
                    Some(None) => {
                        self.broken = true;
                        break;
                    }
                    None => break,
                }
            }
        }
    }
}

impl Iterator for Merged<'_> {
    type Item = Result<Posting, ()>;

    fn next(&mut self) -> Option<Result<Posting, ()>> {
        if self.broken {
            self.broken = false;
            self.heap.clear();
            return Some(Err(()));
        }
        let Reverse((posting, i)) = self.heap.pop()?;
        self.advance(i);
        Some(Ok(posting))
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

    #[test]
    fn segments_merge_newest_first() {
        let segments = [
            encode(&[(1, 1), (5, 5)]),
            encode(&[]),
            encode(&[(2, 2), (3, 3), (9, 9)]),
        ];
        let cursors = segments.iter().map(|s| Cursor::new(s).unwrap()).collect();
        let merged: Result<Vec<Posting>, ()> = Merged::new(cursors).collect();
        assert_eq!(merged.unwrap(), [(1, 1), (2, 2), (3, 3), (5, 5), (9, 9)]);
        let broken: Vec<Result<Posting, ()>> = Merged::new(vec![
            Cursor::new(&segments[0]).unwrap(),
            Cursor::new(&[3, 1]).unwrap(),
        ])
        .collect();
        assert_eq!(broken, [Err(())]);
    }

    #[test]
    fn a_seek_passes_over_exactly_the_postings_before_its_target() {
        let lists: [Vec<Posting>; 3] = [
            (0..40).map(|n| (n * 3, n)).collect(),
            (0..25).map(|n| (n * 5 + 1, 100 + n)).collect(),
            vec![(7, 7)],
        ];
        let segments: Vec<Vec<u8>> = lists.iter().map(|l| encode(l)).collect();
        let all = merge(&merge(&lists[0], &lists[1]), &lists[2]);
        let open = || Merged::new(segments.iter().map(|s| Cursor::new(s).unwrap()).collect());
        for target in [(0, 0), (6, 2), (6, 3), (7, 0), (50, 0), (200, 0)] {
            let mut merged = open();
            merged.seek(target);
            let want: Vec<Posting> = all.iter().copied().filter(|&p| p >= target).collect();
            assert_eq!(merged.peek(), want.first().copied().map(Ok), "{target:?}");
            assert_eq!(merged.collect::<Result<Vec<_>, ()>>().unwrap(), want);
        }
        // Seeks one after another, then the rest.
        let mut merged = open();
        merged.seek((10, 0));
        merged.seek((9, 0));
        assert_eq!(merged.next(), Some(Ok((11, 102))));
        merged.seek((60, 0));
        assert_eq!(merged.next(), Some(Ok((60, 20))));
        let mut broken = Merged::new(vec![
            Cursor::new(&segments[2]).unwrap(),
            Cursor::new(&[3, 1]).unwrap(),
        ]);
        broken.seek((100, 0));
        assert_eq!(broken.peek(), Some(Err(())));
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
