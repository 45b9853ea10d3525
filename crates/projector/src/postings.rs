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

/// Encodes postings (sorted here) as one segment.
pub fn encode(postings: &mut [Posting]) -> Vec<u8> {
    postings.sort_unstable();
    let mut out = Vec::with_capacity(4 + postings.len() * 8);
    let mut buf = [0u8; 10];
    let mut push = |out: &mut Vec<u8>, v: u64| {
        let n = v.encode_var(&mut buf);
        out.extend_from_slice(&buf[..n]);
    };
    push(&mut out, postings.len() as u64);
    let mut prev = 0u64;
    for &(sort, doc) in postings.iter() {
        push(&mut out, sort - prev);
        push(&mut out, doc);
        prev = sort;
    }
    out
}

/// Decodes a segment; `None` if the bytes are not one.
pub fn decode(bytes: &[u8]) -> Option<Vec<Posting>> {
    let mut at = 0;
    let mut next = || {
        let (v, n) = u64::decode_var(bytes.get(at..)?)?;
        at += n;
        Some(v)
    };
    let count = next()?;
    // Each posting takes at least two bytes: a bogus count cannot make this
    // allocate more than the row could hold.
    let mut out = Vec::with_capacity((count as usize).min(bytes.len() / 2));
    let mut sort = 0u64;
    for _ in 0..count {
        sort = sort.checked_add(next()?)?;
        out.push((sort, next()?));
    }
    Some(out)
}

/// The postings of several segments, each sorted, merged newest first.
pub struct Merged {
    segments: Vec<Vec<Posting>>,
    heap: BinaryHeap<Reverse<(Posting, usize, usize)>>,
}

impl Merged {
    pub fn new(segments: Vec<Vec<Posting>>) -> Merged {
        let heap = segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.first().map(|p| Reverse((*p, i, 0))))
            .collect();
        Merged { segments, heap }
    }
}

impl Iterator for Merged {
    type Item = Posting;

    fn next(&mut self) -> Option<Posting> {
        let Reverse((posting, seg, pos)) = self.heap.pop()?;
        if let Some(next) = self.segments[seg].get(pos + 1) {
            self.heap.push(Reverse((*next, seg, pos + 1)));
        }
        Some(posting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_round_trips_sorted() {
        let mut postings = vec![(30, 7), (10, 1_000_000), (30, 2), (u64::MAX, 0)];
        let bytes = encode(&mut postings);
        assert_eq!(
            decode(&bytes).unwrap(),
            [(10, 1_000_000), (30, 2), (30, 7), (u64::MAX, 0)]
        );
        assert_eq!(decode(&encode(&mut [])).unwrap(), []);
        assert!(decode(&[5, 1]).is_none(), "a truncated segment");
        assert!(decode(&[]).is_none());
    }

    #[test]
    fn segments_merge_newest_first() {
        let merged: Vec<Posting> = Merged::new(vec![
            vec![(1, 1), (5, 5)],
            vec![],
            vec![(2, 2), (3, 3), (9, 9)],
        ])
        .collect();
        assert_eq!(merged, [(1, 1), (2, 2), (3, 3), (5, 5), (9, 9)]);
    }
}
