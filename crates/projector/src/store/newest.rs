//! The newest entries, of one page and of all pages: `page_newest` holds
//! every page's entries newest first, `page_heads` every page's newest one,
//! and the newest overall are a merge of the pages' ranges
//! (`docs/projector-store.md`, "The newest entries").

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::apply::Tables;
use super::list::Collector;
use super::rows::{indexed_entry, EntryView};
use super::tables::{ENTRIES, PAGE_HEADS, PAGE_NEWEST};
use super::{Listed, Store, StoreError, Window};

/// An entry's place in the newest-first order: (sort key, page, id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPos {
    pub sort: u64,
    pub page: String,
    pub id: String,
}

impl Store {
    /// A page's entries, newest first.
    pub fn page_entries(&self, key: &str, limit: usize) -> Result<Vec<EntryView>, StoreError> {
        Ok(self
            .page_entries_after(key, None, Window::entries(limit))?
            .items)
    }

    /// A page's entries, newest first, after the entry at `after` (keyset:
    /// entries written meanwhile before it do not shift the rest), within
    /// `window`.
    pub fn page_entries_after(
        &self,
        key: &str,
        after: Option<&EntryPos>,
        window: Window,
    ) -> Result<Listed<EntryView, EntryPos>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(PAGE_NEWEST)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut rows = match after {
            Some(at) => index.range::<(&str, u64, &str)>((
                Bound::Excluded((key, at.sort, at.id.as_str())),
                Bound::Unbounded,
            ))?,
            None => index.range((key, 0u64, "")..)?,
        };
        let mut list = Collector::new(window);
        while let Some((sort, id)) = next_of_page(&mut rows, key)? {
            let entry = indexed_entry(&entries, key, &id)?;
            let at = EntryPos {
                sort,
                page: key.to_owned(),
                id,
            };
            if !list.push(entry, at) {
                break;
            }
            if list.is_full() {
                if next_of_page(&mut rows, key)?.is_some() {
                    list.more();
                }
                break;
            }
        }
        Ok(list.finish())
    }

    /// The newest entries of all pages, newest first.
    pub fn newest_entries(&self, limit: usize) -> Result<Vec<EntryView>, StoreError> {
        Ok(self.newest_after(None, Window::entries(limit))?.items)
    }

    /// The newest entries of all pages, newest first (by sort key, then
    /// page, then id), after the entry at `after`, within `window`: a merge
    /// of the pages' `page_newest` ranges, each opened when its head (in
    /// `page_heads`) is newer than every entry waiting in the merge, so the
    /// first window reads at most `limit` pages. After a cursor, every page
    /// whose head is newer than it is opened first (its entries past the
    /// cursor may come first).
    pub fn newest_after(
        &self,
        after: Option<&EntryPos>,
        window: Window,
    ) -> Result<Listed<EntryView, EntryPos>, StoreError> {
        self.merge_newest(after, window, None)
    }

    /// The newest entries of the pages of `site` (keys `site.*`), newest
    /// first, within `window`: the same merge as [`Store::newest_after`],
    /// passing over the heads of other sites' pages.
    pub fn site_newest(
        &self,
        site: &str,
        window: Window,
    ) -> Result<Listed<EntryView, EntryPos>, StoreError> {
        self.merge_newest(None, window, Some(&format!("{site}.")))
    }

    /// The merge of [`Store::newest_after`], of the pages whose key starts
    /// with `prefix` (every page with `None`).
    fn merge_newest(
        &self,
        after: Option<&EntryPos>,
        window: Window,
        prefix: Option<&str>,
    ) -> Result<Listed<EntryView, EntryPos>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(PAGE_NEWEST)?;
        let entries = txn.open_table(ENTRIES)?;
        let heads_table = txn.open_table(PAGE_HEADS)?;
        let mut heads = heads_table.iter()?;
        // A page cannot show anything before the cursor: its head counts
        // as the cursor's sort key at the earliest.
        let floor = after.map_or(0, |at| at.sort);
        let mut next_head = || -> Result<Option<(u64, String)>, StoreError> {
            while let Some((k, _)) = heads.next().transpose()? {
                let (sort, page) = k.value();
                if prefix.is_none_or(|p| page.starts_with(p)) {
                    return Ok(Some((sort.max(floor), page.to_owned())));
                }
            }
            Ok(None)
        };
        let mut head = next_head()?;
        // Open pages, and the merge's front: (sort key, page, id, which page).
        let mut open: Vec<(String, redb::Range<_, _>)> = Vec::new();
        let mut merge: BinaryHeap<Reverse<(u64, String, String, usize)>> = BinaryHeap::new();
        let mut list = Collector::new(window);
        loop {
            let open_next = match (&head, merge.peek()) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some((sort, _)), Some(Reverse((front, ..)))) => sort <= front,
            };
            if open_next {
                let Some((_, page)) = head.take() else { break };
                let range = match after {
                    None => Some(index.range((page.as_str(), 0u64, "")..)?),
                    Some(at) => page_range_after(&index, &page, at)?,
                };
                if let Some(mut range) = range {
                    if let Some(row) = next_of_page(&mut range, &page)? {
                        merge.push(Reverse((row.0, page.clone(), row.1, open.len())));
                    }
                    open.push((page, range));
                }
                head = next_head()?;
                continue;
            }
            if list.is_full() {
                if !merge.is_empty() {
                    list.more();
                }
                break;
            }
            let Some(Reverse((sort, page, id, which))) = merge.pop() else {
                break;
            };
            let entry = indexed_entry(&entries, &page, &id)?;
            let at = EntryPos { sort, page, id };
            if !list.push(entry, at) {
                break;
            }
            let (page, range) = &mut open[which];
            if let Some(row) = next_of_page(range, page)? {
                merge.push(Reverse((row.0, page.clone(), row.1, which)));
            }
        }
        Ok(list.finish())
    }
}

impl Tables<'_> {
    /// Notes `page`'s head before the batch first changes its entries.
    pub(super) fn touch(&mut self, page: &str) -> Result<(), StoreError> {
        if !self.touched.contains_key(page) {
            let head = page_head(&self.page_newest, page)?;
            self.touched.insert(page.to_owned(), head);
        }
        Ok(())
    }

    /// Moves the head of every page the batch touched, if it changed.
    pub(super) fn finish_heads(&mut self) -> Result<(), StoreError> {
        for (page, before) in std::mem::take(&mut self.touched) {
            let after = page_head(&self.page_newest, &page)?;
            if after == before {
                continue;
            }
            if let Some(sort) = before {
                self.page_heads.remove((sort, page.as_str()))?;
            }
            if let Some(sort) = after {
                self.page_heads.insert((sort, page.as_str()), ())?;
            }
        }
        Ok(())
    }
}

/// The sort key of `page`'s newest entry (its first `page_newest` row).
fn page_head(
    index: &impl ReadableTable<(&'static str, u64, &'static str), u64>,
    page: &str,
) -> Result<Option<u64>, StoreError> {
    let mut range = index.range((page, 0u64, "")..)?;
    Ok(next_of_page(&mut range, page)?.map(|(sort, _)| sort))
}

/// The next `page_newest` row of `range` if it still belongs to `page`:
/// (sort key, entry id).
fn next_of_page(
    range: &mut redb::Range<(&'static str, u64, &'static str), u64>,
    page: &str,
) -> Result<Option<(u64, String)>, StoreError> {
    match range.next().transpose()? {
        Some((k, _)) => {
            let (p, sort, id) = k.value();
            Ok((p == page).then(|| (sort, id.to_owned())))
        }
        None => Ok(None),
    }
}

/// A `page_newest` key: (page, desc(sort key), entry id).
type PageNewestKey = (&'static str, u64, &'static str);

/// `page`'s `page_newest` rows that come after `at` in the newest-overall
/// order (sort key, page, id); `None` if none can.
fn page_range_after<'t>(
    index: &'t redb::ReadOnlyTable<PageNewestKey, u64>,
    page: &str,
    at: &EntryPos,
) -> Result<Option<redb::Range<'t, PageNewestKey, u64>>, StoreError> {
    let range = match page.cmp(at.page.as_str()) {
        // A page before the cursor's: its entries of the cursor's sort key
        // came before the cursor.
        std::cmp::Ordering::Less => match at.sort.checked_add(1) {
            Some(sort) => index.range((page, sort, "")..)?,
            None => return Ok(None),
        },
        std::cmp::Ordering::Greater => index.range((page, at.sort, "")..)?,
        std::cmp::Ordering::Equal => index.range::<(&str, u64, &str)>((
            Bound::Excluded((page, at.sort, at.id.as_str())),
            Bound::Unbounded,
        ))?,
    };
    Ok(Some(range))
}
