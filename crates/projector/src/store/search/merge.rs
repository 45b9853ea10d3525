//! Keeping a gram's segments few: each batch adds a segment to tier 0, and
//! once a tier holds [`FAN`] segments they are merged into one of the next
//! tier (or of the last tier, once it is large), between batches, in
//! write transactions of their own
//! ([`Store::merge_step`]), never inside a batch's (a merge inside the
//! batch that filled a level held live replication for seconds: see
//! BENCHMARKS.md, "The runs layout made live replication stall"). A gram
//! thus keeps a segment per [`FINAL_AT`] postings and a few smaller ones,
//! instead of one per batch (`docs/projector-store.md`, "Merging").

use std::ops::Range;
use std::sync::atomic::Ordering;

use integer_encoding::VarInt as _;
use redb::{Durability, ReadableTable, ReadableTableMetadata, Table};

use super::postings::{decode, Cursor, Encoder};
use super::{bad_segment, Store, StoreError};
use crate::store::tables::{COUNT_KEY, MERGE_QUEUE, META, META_NEXT_SEGMENT, POSTINGS};

/// Segments a tier holds before they are merged into one of the next.
pub(in crate::store) const FAN: u64 = 8;
/// A merge that writes at least this many postings writes them to the
/// last tier, which never merges again: each of a common gram's postings is
/// then rewritten about once (a batch of 10,000 entries gives a common
/// bigram a segment of thousands), and a gram keeps one segment per this
/// many postings. Merging on to a single segment rewrote each posting once
/// a tier and made the sample vocabulary's apply 0.68 as fast, while a
/// search reads a segment whole, so past a few thousand postings fewer,
/// larger segments save it nothing.
pub(in crate::store) const FINAL_AT: usize = 1 << 12;
/// The last tier.
pub(in crate::store) const FINAL: u8 = 15;
/// Postings one [`Store::merge_step`] rewrites before it commits (it
/// stops after the gram that reaches it: one gram's merge writes at most 8
/// segments under [`FINAL_AT`] postings or of one batch).
pub const MERGE_STEP: usize = 200_000;

/// The key of segment `number` (below 2^56) of `tier`: tier 0 highest, so
/// that a gram's newest tier-0 segment is the last before its count row.
pub(in crate::store) fn segment_key(tier: u8, number: u64) -> u64 {
    u64::from(0xFE - tier.min(FINAL)) << 56 | (number & ((1 << 56) - 1))
}

/// The tier of a segment key; `None` for a key no segment has.
pub(in crate::store) fn tier_of(key: u64) -> Option<u8> {
    0xFEu8
        .checked_sub((key >> 56) as u8)
        .filter(|&tier| tier <= FINAL)
}

/// Every segment key of `tier`.
pub(in crate::store) fn tier_keys(tier: u8) -> Range<u64> {
    let first = segment_key(tier, 0);
    first..first + (1 << 56)
}

/// A gram's count row: its postings (dead ones included until removed)
/// and how many segments each tier holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(in crate::store) struct GramCount {
    pub postings: u64,
    pub tiers: [u64; FINAL as usize + 1],
}

impl GramCount {
    /// Varints: the postings, then each tier's segments up to the last
    /// tier that has any.
    pub(in crate::store) fn encode(&self) -> Vec<u8> {
        let used = self.tiers.iter().rposition(|&n| n > 0).map_or(0, |t| t + 1);
        let mut out = self.postings.encode_var_vec();
        for &n in &self.tiers[..used] {
            out.extend(n.encode_var_vec());
        }
        out
    }

    pub(in crate::store) fn decode(mut bytes: &[u8]) -> Option<GramCount> {
        let (postings, n) = u64::decode_var(bytes)?;
        bytes = &bytes[n..];
        let mut count = GramCount {
            postings,
            ..GramCount::default()
        };
        for tier in &mut count.tiers {
            if bytes.is_empty() {
                break;
            }
            let (segments, n) = u64::decode_var(bytes)?;
            *tier = segments;
            bytes = &bytes[n..];
        }
        bytes.is_empty().then_some(count)
    }

    /// The lowest tier with segments to merge.
    pub(in crate::store) fn full_tier(&self) -> Option<u8> {
        (0..FINAL).find(|&t| self.tiers[t as usize] >= FAN)
    }
}

type Postings<'t> = Table<'t, (&'static str, u64), &'static [u8]>;

/// Reads `gram`'s count row (zero if it has none).
pub(in crate::store) fn read_count(
    postings: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    gram: &str,
) -> Result<GramCount, StoreError> {
    match postings.get((gram, COUNT_KEY))? {
        None => Ok(GramCount::default()),
        Some(v) => GramCount::decode(v.value()).ok_or_else(|| StoreError::Corrupt {
            table: "postings",
            detail: format!("the count of gram {gram:?} does not decode"),
        }),
    }
}

/// Writes `gram`'s count row, or removes it once nothing is left.
pub(in crate::store) fn write_count(
    postings: &mut Postings<'_>,
    gram: &str,
    count: &GramCount,
) -> Result<(), StoreError> {
    if *count == GramCount::default() {
        postings.remove((gram, COUNT_KEY))?;
    } else {
        postings.insert((gram, COUNT_KEY), count.encode().as_slice())?;
    }
    Ok(())
}

impl Store {
    /// Merges full tiers of segments, gram by gram from the merge queue,
    /// until about `budget` postings are rewritten, in one write
    /// transaction of its own (synced with the next synced commit). Whether
    /// merges are left; it does nothing when none are.
    ///
    /// A step that fails (a full disk) leaves the queue as it was and
    /// clears the flag, so that the caller does not retry at once: the next
    /// batch that queues a gram, or [`Store::reopen`], sets it again.
    pub fn merge_step(&self, budget: usize) -> Result<bool, StoreError> {
        if !self.merges.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.merge_step_or_stop(budget).inspect_err(|_| {
            self.merges.store(false, Ordering::Release);
        })
    }

    fn merge_step_or_stop(&self, budget: usize) -> Result<bool, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let mut changed = false;
        {
            let mut queue = txn.open_table(MERGE_QUEUE)?;
            let mut postings = txn.open_table(POSTINGS)?;
            let mut meta = txn.open_table(META)?;
            let mut next = meta.get(META_NEXT_SEGMENT)?.map_or(0, |v| v.value());
            let mut rewritten = 0;
            while rewritten < budget {
                let Some(gram) = queue.first()?.map(|(k, _)| k.value().to_owned()) else {
                    break;
                };
                let (merged, full) = merge_gram(&mut postings, &gram, &mut next)?;
                if !full {
                    queue.remove(gram.as_str())?;
                }
                rewritten += merged;
                changed = true;
            }
            meta.insert(META_NEXT_SEGMENT, next)?;
            // Under the write lock, as a batch that queues a gram sets it.
            self.merges.store(!queue.is_empty()?, Ordering::Release);
        }
        if changed {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(self.merges.load(Ordering::Acquire))
    }

    /// Runs [`Store::merge_step`] until no merge is left.
    pub fn merge_all(&self) -> Result<(), StoreError> {
        while self.merge_step(MERGE_STEP)? {}
        Ok(())
    }

    /// How many segments `gram` has in each tier (its count row, checked
    /// against its segment rows), and its postings.
    pub fn gram_segments(
        &self,
        gram: &str,
    ) -> Result<([u64; FINAL as usize + 1], u64), StoreError> {
        let txn = self.db.begin_read()?;
        let postings = txn.open_table(POSTINGS)?;
        let count = read_count(&postings, gram)?;
        let mut rows = GramCount::default();
        for item in postings.range((gram, 0)..(gram, COUNT_KEY))? {
            let (k, v) = item?;
            let tier = tier_of(k.value().1).ok_or_else(bad_segment)?;
            rows.tiers[tier as usize] += 1;
            rows.postings += Cursor::new(v.value()).ok_or_else(bad_segment)?.left() as u64;
        }
        if rows != count {
            return Err(StoreError::Corrupt {
                table: "postings",
                detail: format!("gram {gram:?} has {rows:?} but its count row says {count:?}"),
            });
        }
        Ok((count.tiers, count.postings))
    }

    /// Whether merges may be left (set by a batch that queued one, cleared
    /// by the step that finds none).
    pub fn merges_pending(&self) -> bool {
        self.merges.load(Ordering::Acquire)
    }
}

/// Merges `gram`'s lowest full tier: how many postings that rewrote, and
/// whether a tier is still full.
fn merge_gram(
    postings: &mut Postings<'_>,
    gram: &str,
    next: &mut u64,
) -> Result<(usize, bool), StoreError> {
    let mut count = read_count(postings, gram)?;
    let Some(tier) = count.full_tier() else {
        return Ok((0, false));
    };
    let keys = tier_keys(tier);
    let (old, to, new, total) = {
        // Eight at a time even when more wait (merges fell behind the
        // batches): a merge stays bounded, and so does the segment it writes.
        let rows = postings
            .range((gram, keys.start)..(gram, keys.end))?
            .take(FAN as usize)
            .map(|item| item.map(|(k, v)| (k.value().1, v)))
            .collect::<Result<Vec<_>, _>>()?;
        // Decoded one after another and sorted: the standard library's
        // stable sort finds the segments' sorted runs and merges them,
        // several times quicker than a merge through a heap (which was
        // half of a rebuild's last merges in a profile).
        let mut merged = Vec::new();
        for (_, v) in &rows {
            merged.extend(decode(v.value()).ok_or_else(bad_segment)?);
        }
        merged.sort();
        let total = merged.len();
        let to = if total >= FINAL_AT { FINAL } else { tier + 1 };
        let mut encoder = Encoder::with_capacity(total);
        for posting in merged {
            encoder.push(posting);
        }
        let old: Vec<u64> = rows.iter().map(|(k, _)| *k).collect();
        (old, to, encoder.finish(), total)
    };
    let old_count = old.len() as u64;
    for key in old {
        postings.remove((gram, key))?;
    }
    postings.insert((gram, segment_key(to, *next)), new.as_slice())?;
    *next += 1;
    let left = &mut count.tiers[tier as usize];
    *left = left.saturating_sub(old_count);
    count.tiers[to as usize] += 1;
    write_count(postings, gram, &count)?;
    Ok((total, count.full_tier().is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_sort_tier_0_last_and_say_their_tier() {
        for tier in 0..=FINAL {
            let key = segment_key(tier, 12345);
            assert_eq!(tier_of(key), Some(tier));
            assert!(tier_keys(tier).contains(&key));
            assert!(key < COUNT_KEY);
        }
        assert!(segment_key(0, 0) > segment_key(1, (1 << 56) - 1));
        assert_eq!(tier_of(COUNT_KEY), None);
        assert_eq!(tier_of(7), None, "a schema-12 segment number");
    }

    #[test]
    fn a_merge_of_small_segments_goes_up_a_tier_and_a_large_one_to_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut postings = txn.open_table(POSTINGS).unwrap();
            let mut next = 0;
            // Eight segments of `size` postings, interleaved, in tier 0 of
            // `gram`, merged into one segment holding them all: its tier.
            let mut merge = |gram: &str, size: u64| -> u8 {
                let mut count = GramCount::default();
                let mut all = Vec::new();
                for s in 0..8u64 {
                    let segment: Vec<_> = (0..size).map(|i| (i * 8 + s, i * 8 + s)).collect();
                    all.extend_from_slice(&segment);
                    let bytes = super::super::postings::encode(&segment);
                    postings
                        .insert((gram, segment_key(0, next)), bytes.as_slice())
                        .unwrap();
                    next += 1;
                    count.tiers[0] += 1;
                    count.postings += size;
                }
                write_count(&mut postings, gram, &count).unwrap();
                let (rewritten, full) = merge_gram(&mut postings, gram, &mut next).unwrap();
                assert_eq!((rewritten as u64, full), (8 * size, false));
                let rows: Vec<(u64, Vec<u8>)> = postings
                    .range((gram, 0)..(gram, COUNT_KEY))
                    .unwrap()
                    .map(|item| {
                        let (k, v) = item.unwrap();
                        (k.value().1, v.value().to_vec())
                    })
                    .collect();
                assert_eq!(rows.len(), 1, "one segment");
                let tier = tier_of(rows[0].0).unwrap();
                let mut want = GramCount {
                    postings: 8 * size,
                    ..GramCount::default()
                };
                want.tiers[tier as usize] = 1;
                assert_eq!(read_count(&postings, gram).unwrap(), want);
                all.sort_unstable();
                assert_eq!(super::super::postings::decode(&rows[0].1).unwrap(), all);
                tier
            };
            assert_eq!(merge("ab", 300), 1);
            assert_eq!(merge("cd", FINAL_AT as u64 / 8), FINAL);
        }
        txn.commit().unwrap();
    }

    #[test]
    fn merges_that_fell_behind_take_eight_segments_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut postings = txn.open_table(POSTINGS).unwrap();
            let mut count = GramCount::default();
            for s in 0..17u64 {
                let bytes = super::super::postings::encode(&[(s, s), (s + 100, s)]);
                postings
                    .insert(("ab", segment_key(0, s)), bytes.as_slice())
                    .unwrap();
                count.tiers[0] += 1;
                count.postings += 2;
            }
            write_count(&mut postings, "ab", &count).unwrap();
            let mut next = 17;
            assert_eq!(
                merge_gram(&mut postings, "ab", &mut next).unwrap(),
                (16, true)
            );
            assert_eq!(
                merge_gram(&mut postings, "ab", &mut next).unwrap(),
                (16, false)
            );
            let count = read_count(&postings, "ab").unwrap();
            assert_eq!((count.tiers[0], count.tiers[1], count.postings), (1, 2, 34));
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_count_row_round_trips_and_names_its_full_tier() {
        let mut count = GramCount {
            postings: 300_000,
            ..GramCount::default()
        };
        assert_eq!(count.encode(), 300_000u64.encode_var_vec());
        count.tiers[0] = 3;
        count.tiers[2] = 8;
        count.tiers[FINAL as usize] = 9;
        assert_eq!(GramCount::decode(&count.encode()), Some(count.clone()));
        assert_eq!(count.full_tier(), Some(2), "the last tier never merges");
        count.tiers[2] = 7;
        assert_eq!(count.full_tier(), None);
        assert_eq!(GramCount::decode(&[]), None);
        assert_eq!(GramCount::decode(&[1, 0x80]), None, "a cut varint");
    }
}
