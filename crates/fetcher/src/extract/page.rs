//! A page's title and its outermost entries, in page order, found in one
//! walk of the tree that does not enter an entry: each node is visited once,
//! whatever the nesting.

use chrono::{DateTime, Utc};
use scraper::ElementRef;
use serde::Serialize;
use tracing::{debug, info};

use super::stream::Streamed;
use super::text::normalized_text;
use super::tree::{after, find_under, NODES_PER_CHECK};
use super::{Entry, ExtractError, Extractor};
use crate::deadline::{Deadline, Expired};
use crate::parse::{parse_document, MAX_OPEN_ELEMENTS};

/// What a page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Whitespace-normalised, at most `max_title_bytes`; empty when the
    /// title selector matches nothing.
    pub title: String,
    /// In page order, at most `max_entries`, none inside another.
    pub entries: Vec<Entry>,
}

impl Extractor {
    /// Extracts from `html`; links are resolved against `page_url`, and
    /// timestamps without a year get one from `now`. Only the outermost
    /// entries count: an element the entry selector matches inside another
    /// one is left in the outer one's markup and text. The deadline starts
    /// now.
    pub fn extract(
        &self,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
    ) -> Result<Page, ExtractError> {
        self.extract_within(html, page_url, now, &self.deadline())
    }

    /// [`Extractor::extract`], within a deadline started before (for the
    /// decoding to count too).
    pub fn extract_within(
        &self,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Page, ExtractError> {
        let timeout = |Expired| ExtractError::Timeout {
            deadline: deadline.budget(),
        };
        if let Some(selectors) = &self.stream {
            match self.stream(selectors, html, page_url, now, deadline) {
                Streamed::Read(page) if page.entries.is_empty() => {
                    return Err(ExtractError::NoEntries {
                        selector: self.entry_text.clone(),
                    });
                }
                Streamed::Read(page) => return Ok(page),
                Streamed::Expired => return Err(timeout(Expired)),
                Streamed::Fallback(reason) => {
                    debug!(page = page_url, reason, "read with the tree");
                }
            }
        }
        self.extract_with_tree(html, page_url, now, deadline)
    }

    /// [`Extractor::extract_within`] by the tree: every page can be read so.
    pub(super) fn extract_with_tree(
        &self,
        html: &str,
        page_url: &str,
        now: DateTime<Utc>,
        deadline: &Deadline,
    ) -> Result<Page, ExtractError> {
        let timeout = |Expired| ExtractError::Timeout {
            deadline: deadline.budget(),
        };
        let parsed = parse_document(html, deadline).map_err(timeout)?;
        if parsed.cut {
            info!(
                page = page_url,
                max_open_elements = MAX_OPEN_ELEMENTS,
                "the page nests elements too deep; read up to there"
            );
        }
        let root = parsed.html.tree.root();
        let title = find_under(root, None, &self.title, deadline, Some)
            .map_err(timeout)?
            .map(|title| normalized_text(title, self.limits.max_title_bytes))
            .unwrap_or_default();
        let base = url::Url::parse(page_url).ok();
        let mut entries = Vec::new();
        // Depth first, in page order, without entering an entry: each node
        // is visited once, whatever the nesting.
        let mut next = root.first_child();
        let mut visited = 0_usize;
        while let Some(node) = next {
            visited = visited.wrapping_add(1);
            if visited.is_multiple_of(NODES_PER_CHECK) && deadline.passed() {
                return Err(timeout(Expired));
            }
            let Some(element) = ElementRef::wrap(node).filter(|e| self.entry.matches(e)) else {
                next = node.first_child().or_else(|| after(node));
                continue;
            };
            if entries.len() == self.limits.max_entries {
                debug!(
                    page = page_url,
                    max_entries = self.limits.max_entries,
                    "entries past max_entries dropped"
                );
                break;
            }
            entries.push(
                self.entry(element, base.as_ref(), now, deadline)
                    .map_err(timeout)?,
            );
            next = after(node);
        }
        if entries.is_empty() {
            return Err(ExtractError::NoEntries {
                selector: self.entry_text.clone(),
            });
        }
        Ok(Page { title, entries })
    }
}
