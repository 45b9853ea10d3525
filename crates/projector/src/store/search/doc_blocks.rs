//! Which entry a document number names: a batch's documents are named in one
//! block, keyed by its first number (`docs/projector-store.md`, "Document
//! blocks"), and the block goes once none of them is live.

use integer_encoding::VarInt as _;
use redb::{ReadableTable, ReadableTableMetadata};

use crate::store::apply::Tables;
use crate::store::tables::{DOC_BLOCKS, DOC_BLOCK_LIVE};
use crate::store::{Store, StoreError};

/// The names of one batch's documents, in number order.
#[derive(Debug, Default)]
pub struct BlockBuilder {
    ends: Vec<u32>,
    names: Vec<u8>,
}

impl BlockBuilder {
    /// Names the next document.
    pub fn push(&mut self, page: &str, id: &str) {
        let mut len = [0u8; 10];
        let n = (page.len() as u64).encode_var(&mut len);
        self.names.extend_from_slice(&len[..n]);
        self.names.extend_from_slice(page.as_bytes());
        self.names.extend_from_slice(id.as_bytes());
        // A block holds one batch (at most some thousands of short names).
        self.ends
            .push(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The encoded block.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_part(0..self.ends.len())
    }

    /// The names in blocks of at most `size` documents: (how many documents
    /// come before the block's first, how many it holds, the encoded block).
    pub fn encode_blocks(&self, size: usize) -> impl Iterator<Item = (u64, u64, Vec<u8>)> + '_ {
        let size = size.max(1);
        (0..self.ends.len()).step_by(size).map(move |start| {
            let end = (start + size).min(self.ends.len());
            (
                start as u64,
                (end - start) as u64,
                self.encode_part(start..end),
            )
        })
    }

    fn encode_part(&self, docs: std::ops::Range<usize>) -> Vec<u8> {
        let from = match docs.start {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        let to = match docs.end {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        let mut out = Vec::with_capacity(4 * (1 + docs.len()) + to - from);
        out.extend_from_slice(&(docs.len() as u32).to_le_bytes());
        for end in &self.ends[docs] {
            out.extend_from_slice(&(end - from as u32).to_le_bytes());
        }
        out.extend_from_slice(&self.names[from..to]);
        out
    }
}

/// Documents a block holds at most: a search reads one block for each
/// candidate, and a block of a whole batch (up to 10,000 names) made every
/// such read copy all of them out of the page cache.
pub const BLOCK_DOCS: usize = 64;

/// The `(page, entry id)` of the block's `i`th document; `None` if the block
/// has fewer or does not decode.
pub fn name(block: &[u8], i: u64) -> Option<(&str, &str)> {
    let word = |at: usize| -> Option<usize> {
        let bytes = block.get(4 * at..4 * at + 4)?;
        usize::try_from(u32::from_le_bytes(bytes.try_into().ok()?)).ok()
    };
    let count = word(0)?;
    let i = usize::try_from(i).ok().filter(|&i| i < count)?;
    let names = block.get(4 * (1 + count)..)?;
    let start = if i == 0 { 0 } else { word(i)? };
    let item = names.get(start..word(i + 1)?)?;
    let (page_len, n) = u64::decode_var(item)?;
    let rest = item.get(n..)?;
    let (page, id) = rest.split_at_checked(usize::try_from(page_len).ok()?)?;
    Some((
        std::str::from_utf8(page).ok()?,
        std::str::from_utf8(id).ok()?,
    ))
}

impl Store {
    /// The blocks of document names the file holds, by first document
    /// number, each with how many of its documents are live.
    pub fn doc_blocks(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let txn = self.db.begin_read()?;
        let live = txn.open_table(DOC_BLOCK_LIVE)?;
        let blocks = txn.open_table(DOC_BLOCKS)?;
        let mut out = Vec::new();
        for item in live.iter()? {
            let (first, n) = item?;
            if blocks.get(first.value())?.is_none() {
                return Err(StoreError::Corrupt {
                    table: "doc_blocks",
                    detail: format!("block {} is counted but missing", first.value()),
                });
            }
            out.push((first.value(), n.value()));
        }
        if blocks.len()? != out.len() as u64 {
            return Err(StoreError::Corrupt {
                table: "doc_block_live",
                detail: "a block has no count".to_owned(),
            });
        }
        Ok(out)
    }
}

impl Tables<'_> {
    /// Writes the blocks of this batch's documents, with how many are live,
    /// and counts the documents it unindexed out of their blocks (this
    /// batch's own too): a block with none left is removed.
    pub(in crate::store) fn finish_docs(&mut self) -> Result<(), StoreError> {
        let block = std::mem::take(&mut self.block);
        for (before, docs, names) in block.encode_blocks(BLOCK_DOCS) {
            let first = self.block_first + before;
            self.doc_blocks.insert(first, names.as_slice())?;
            self.doc_block_live.insert(first, docs)?;
        }
        let mut dead = std::mem::take(&mut self.dead_docs);
        dead.sort_unstable();
        let mut at = 0;
        while let Some(&doc) = dead.get(at) {
            let Some((first, live)) = self
                .doc_block_live
                .range(..=doc)?
                .next_back()
                .transpose()?
                .map(|(k, v)| (k.value(), v.value()))
            else {
                return Err(StoreError::Corrupt {
                    table: "doc_block_live",
                    detail: format!("document {doc} is in no block"),
                });
            };
            // The block's other dead documents follow in `dead`: the next
            // block starts after them.
            let next = self
                .doc_block_live
                .range(doc.saturating_add(1)..)?
                .next()
                .transpose()?
                .map_or(u64::MAX, |(k, _)| k.value());
            let gone = dead[at..].iter().take_while(|&&d| d < next).count();
            at += gone;
            match live.checked_sub(gone as u64) {
                Some(0) => {
                    self.doc_blocks.remove(first)?;
                    self.doc_block_live.remove(first)?;
                }
                Some(left) => {
                    self.doc_block_live.insert(first, left)?;
                }
                None => {
                    return Err(StoreError::Corrupt {
                        table: "doc_block_live",
                        detail: format!("block {first} has {live} live documents, {gone} died"),
                    })
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_their_place() {
        let mut b = BlockBuilder::default();
        b.push("sample.1", "a");
        b.push("sample.22", "");
        b.push("日記.x", "éé");
        assert_eq!(b.len(), 3);
        let block = b.encode();
        assert_eq!(name(&block, 0), Some(("sample.1", "a")));
        assert_eq!(name(&block, 1), Some(("sample.22", "")));
        assert_eq!(name(&block, 2), Some(("日記.x", "éé")));
        assert_eq!(name(&block, 3), None);
        assert_eq!(name(&BlockBuilder::default().encode(), 0), None);
        assert_eq!(name(&block[..block.len() - 1], 2), None, "cut short");
        assert_eq!(name(&[], 0), None);
    }

    #[test]
    fn a_batch_is_named_in_blocks_of_at_most_the_size() {
        let mut b = BlockBuilder::default();
        let names: Vec<(String, String)> = (0..10)
            .map(|n| (format!("sample.{n}"), "é".repeat(n)))
            .collect();
        for (page, id) in &names {
            b.push(page, id);
        }
        let blocks: Vec<(u64, Vec<u8>)> = b
            .encode_blocks(4)
            .map(|(first, _, block)| (first, block))
            .collect();
        assert_eq!(
            blocks.iter().map(|(first, _)| *first).collect::<Vec<_>>(),
            [0, 4, 8]
        );
        for (first, block) in &blocks {
            for i in 0..4 {
                let want = names
                    .get(*first as usize + i as usize)
                    .map(|(p, id)| (p.as_str(), id.as_str()));
                assert_eq!(name(block, i), want, "block {first}, {i}");
            }
        }
        assert_eq!(b.encode_blocks(64).count(), 1);
        assert_eq!(BlockBuilder::default().encode_blocks(4).count(), 0);
    }
}
