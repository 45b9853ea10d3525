//! The search index's posting lists: which entries (by document number) hold
//! a gram, newest first. A gram's postings are split into segments, each one
//! redb row, so that a batch of events writes one row per distinct gram
//! rather than one row per (gram, entry): the difference between applying
//! thousands and hundreds of thousands of entries per second.
//!
//! A posting is `(sort, doc)`: the entry's newest-first sort key (see
//! `store::desc`) and its document number. A segment keeps its postings in
//! that order, encoded as a count, then for each posting the sort key's
//! increase over the previous one and the document number, all as varints.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use integer_encoding::VarInt as _;

/// (newest-first sort key, document number).
pub type Posting = (u64, u64);

/// Encodes postings, sorted, as one segment.
pub fn encode(postings: &[Posting]) -> Vec<u8> {
    debug_assert!(postings.is_sorted(), "postings must be sorted");
    // Written in place, at most 10 bytes a varint, then cut to length.
    let mut out = vec![0u8; 10 * (1 + 2 * postings.len())];
    let mut at = (postings.len() as u64).encode_var(&mut out);
    let mut prev = 0u64;
    for &(sort, doc) in postings {
        at += (sort - prev).encode_var(&mut out[at..]);
        at += doc.encode_var(&mut out[at..]);
        prev = sort;
    }
    out.truncate(at);
    out
}

/// How many postings a segment holds (its first varint), without decoding
/// them; `None` if the bytes do not start with a count.
pub fn count(bytes: &[u8]) -> Option<usize> {
    let (n, _) = u64::decode_var(bytes)?;
    usize::try_from(n).ok()
}

/// Two sorted lists of postings as one sorted list.
pub fn merge(a: Vec<Posting>, b: Vec<Posting>) -> Vec<Posting> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
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
}

impl<'a> Cursor<'a> {
    /// `None` if the bytes do not start with a count.
    pub fn new(bytes: &'a [u8]) -> Option<Cursor<'a>> {
        let (count, at) = u64::decode_var(bytes)?;
        Some(Cursor {
            at,
            left: usize::try_from(count).ok()?,
            sort: 0,
            bytes,
        })
    }

    fn varint(&mut self) -> Option<u64> {
        let (v, n) = u64::decode_var(self.bytes.get(self.at..)?)?;
        self.at += n;
        Some(v)
    }

    /// The next posting: `None` at the end, `Some(None)` if the bytes are
    /// not a segment (and the end after that).
    fn next(&mut self) -> Option<Option<Posting>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let posting = match self.varint() {
            Some(delta) => match (self.sort.checked_add(delta), self.varint()) {
                (Some(sort), Some(doc)) => {
                    self.sort = sort;
                    Some((sort, doc))
                }
                _ => None,
            },
            None => None,
        };
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
        assert!(decode(&[]).is_none());
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
    fn sorted_lists_merge_sorted() {
        assert_eq!(
            merge(vec![(1, 1), (3, 3), (3, 9)], vec![(0, 5), (3, 4), (7, 7)]),
            [(0, 5), (1, 1), (3, 3), (3, 4), (3, 9), (7, 7)]
        );
        assert_eq!(merge(vec![], vec![(2, 2)]), [(2, 2)]);
        assert_eq!(merge(vec![(2, 2)], vec![]), [(2, 2)]);
    }
}
