//! The postings as runs, an LSM-shaped layout: each batch appends its
//! postings as one run, keyed `(run, gram, chunk)` in its level's table, so
//! that a batch writes one contiguous key range however many distinct grams
//! it holds; when a level holds [`MERGE_AT`] runs they are merged into one
//! run of the next level (`docs/projector-store.md`, "Runs").

use std::ops::RangeInclusive;

use redb::{ReadableTable, Table, TableDefinition};

use super::grams::Gram;
use super::postings::{self, Cursor, Posting};
use crate::store::StoreError;

/// A key of a level's table: (run, gram, chunk).
pub(in crate::store) type RunKey = (u64, u64, u32);
/// A level's table.
pub(in crate::store) type RunTable = TableDefinition<'static, RunKey, &'static [u8]>;
/// A level's table, open for writing.
pub(in crate::store) type RunRows<'t> = Table<'t, RunKey, &'static [u8]>;

/// Levels of runs; the last one is never merged.
pub(in crate::store) const LEVELS: usize = 6;
pub(in crate::store) const LEVEL_TABLES: [RunTable; LEVELS] = [
    TableDefinition::new("postings_0"),
    TableDefinition::new("postings_1"),
    TableDefinition::new("postings_2"),
    TableDefinition::new("postings_3"),
    TableDefinition::new("postings_4"),
    TableDefinition::new("postings_5"),
];
/// Every live run: its number, then (level, first document, end document):
/// a run holds the postings of the documents numbered in that range.
pub(in crate::store) const RUNS: TableDefinition<u64, (u64, u64, u64)> =
    TableDefinition::new("runs");

/// Runs a level holds before they are merged into one of the next level.
pub(in crate::store) const MERGE_AT: usize = 8;
/// Postings in a chunk, every chunk of a gram in a run full but its last.
pub(in crate::store) const CHUNK: usize = 2048;

/// A live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) struct Run {
    pub id: u64,
    pub level: usize,
    pub first_doc: u64,
    pub end_doc: u64,
}

/// The live runs, by number (oldest first).
pub(in crate::store) fn live_runs(
    runs: &impl ReadableTable<u64, (u64, u64, u64)>,
) -> Result<Vec<Run>, StoreError> {
    let mut out = Vec::new();
    for item in runs.iter()? {
        let (k, v) = item?;
        let (level, first_doc, end_doc) = v.value();
        let level = usize::try_from(level)
            .ok()
            .filter(|&l| l < LEVELS)
            .ok_or_else(|| corrupt(format!("run {} has level {level}", k.value())))?;
        out.push(Run {
            id: k.value(),
            level,
            first_doc,
            end_doc,
        });
    }
    Ok(out)
}

/// The keys of `gram`'s chunks in `run`.
pub(in crate::store) fn gram_keys(run: u64, gram: Gram) -> RangeInclusive<RunKey> {
    (run, gram, 0)..=(run, gram, u32::MAX)
}

/// The keys of the chunks in `run` of every gram that starts with the
/// character `first`.
pub(in crate::store) fn prefix_keys(run: u64, first: char) -> RangeInclusive<RunKey> {
    let high = u64::from(first) << 32;
    (run, high, 0)..=(run, high | u64::from(u32::MAX), u32::MAX)
}

/// How many postings `gram` has in `run`: every chunk but the last is full.
pub(in crate::store) fn count_in(
    table: &impl ReadableTable<RunKey, &'static [u8]>,
    run: u64,
    gram: Gram,
) -> Result<u64, StoreError> {
    match table.range(gram_keys(run, gram))?.next_back() {
        None => Ok(0),
        Some(item) => {
            let (k, v) = item?;
            let last = postings::count(v.value()).ok_or_else(bad_chunk)?;
            Ok(u64::from(k.value().2) * CHUNK as u64 + last as u64)
        }
    }
}

/// Writes a gram's postings, sorted, as chunks of [`CHUNK`].
pub(in crate::store) struct ChunkWriter {
    run: u64,
    gram: Gram,
    chunk: u32,
    buf: Vec<Posting>,
}

impl ChunkWriter {
    pub fn new(run: u64, gram: Gram) -> ChunkWriter {
        ChunkWriter {
            run,
            gram,
            chunk: 0,
            buf: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        table: &mut Table<'_, RunKey, &'static [u8]>,
        posting: Posting,
    ) -> Result<(), StoreError> {
        self.buf.push(posting);
        if self.buf.len() == CHUNK {
            self.flush(table)?;
        }
        Ok(())
    }

    /// Writes what is left (the gram's last chunk).
    pub fn finish(
        mut self,
        table: &mut Table<'_, RunKey, &'static [u8]>,
    ) -> Result<(), StoreError> {
        self.flush(table)
    }

    fn flush(&mut self, table: &mut Table<'_, RunKey, &'static [u8]>) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        table.insert(
            (self.run, self.gram, self.chunk),
            postings::encode(&self.buf).as_slice(),
        )?;
        self.chunk += 1;
        self.buf.clear();
        Ok(())
    }
}

/// Writes `list` (sorted) as `gram`'s chunks in `run`.
pub(in crate::store) fn write_gram(
    table: &mut Table<'_, RunKey, &'static [u8]>,
    run: u64,
    gram: Gram,
    list: &[Posting],
) -> Result<(), StoreError> {
    for (i, chunk) in list.chunks(CHUNK).enumerate() {
        let i =
            u32::try_from(i).map_err(|_| corrupt(format!("gram {gram:x} has too many chunks")))?;
        table.insert((run, gram, i), postings::encode(chunk).as_slice())?;
    }
    Ok(())
}

/// Merges the runs `inputs` (of one level, in `src`) into run `into` of the
/// next level (in `dst`), gram by gram, then removes them from `src`.
pub(in crate::store) fn merge(
    src: &mut Table<'_, RunKey, &'static [u8]>,
    dst: &mut Table<'_, RunKey, &'static [u8]>,
    inputs: &[Run],
    into: u64,
) -> Result<(), StoreError> {
    {
        // Each input's range, with its next row read ahead.
        let mut heads = Vec::with_capacity(inputs.len());
        for r in inputs {
            let mut range = src.range((r.id, 0, 0)..=(r.id, u64::MAX, u32::MAX))?;
            let head = range.next().transpose()?;
            heads.push((range, head));
        }
        // The smallest gram at the head of any input, in turn.
        while let Some(gram) = heads
            .iter()
            .filter_map(|(_, head)| head.as_ref().map(|(k, _)| k.value().1))
            .min()
        {
            let mut chunks = Vec::new();
            for (range, head) in &mut heads {
                while head.as_ref().is_some_and(|(k, _)| k.value().1 == gram) {
                    let next = range.next().transpose()?;
                    if let Some((_, v)) = std::mem::replace(head, next) {
                        chunks.push(v);
                    }
                }
            }
            let cursors = chunks
                .iter()
                .map(|v| Cursor::new(v.value()).ok_or_else(bad_chunk))
                .collect::<Result<Vec<_>, _>>()?;
            let mut writer = ChunkWriter::new(into, gram);
            for posting in postings::Merged::new(cursors) {
                writer.push(dst, posting.map_err(|()| bad_chunk())?)?;
            }
            writer.finish(dst)?;
        }
    }
    for r in inputs {
        src.retain_in((r.id, 0, 0)..=(r.id, u64::MAX, u32::MAX), |_, _| false)?;
    }
    Ok(())
}

/// Removes the postings of `dead` documents from `gram`'s chunks in `run`.
/// Returns how many went.
pub(in crate::store) fn remove_docs(
    table: &mut Table<'_, RunKey, &'static [u8]>,
    run: u64,
    gram: Gram,
    dead: &dyn Fn(u64) -> bool,
) -> Result<usize, StoreError> {
    let mut list = Vec::new();
    for item in table.range(gram_keys(run, gram))? {
        let (_, v) = item?;
        list.extend(postings::decode(v.value()).ok_or_else(bad_chunk)?);
    }
    let before = list.len();
    list.retain(|(_, doc)| !dead(*doc));
    let removed = before - list.len();
    if removed > 0 {
        table.retain_in(gram_keys(run, gram), |_, _| false)?;
        write_gram(table, run, gram, &list)?;
    }
    Ok(removed)
}

pub(in crate::store) fn bad_chunk() -> StoreError {
    corrupt("a chunk that does not decode".to_owned())
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "postings",
        detail,
    }
}
