//! The fetch state: what every fetcher process knows of a page's last
//! crawl, kept in the `pagefeed_fetch_state` key-value bucket so that
//! consecutive crawls of a page may land on different processes: the
//! validators for a conditional GET, the title, and the entry ids.

use async_nats::jetstream::kv;
use pagefeed_events::PageKey;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::http::Validators;

/// A page as its last successful crawl saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageState {
    pub url: String,
    pub title: String,
    /// Ids of the entries the page showed, in page order.
    pub ids: Vec<String>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
}

impl PageState {
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        }
    }
}

/// The bucket, as the fetchers use it.
#[derive(Clone)]
pub struct FetchState {
    kv: kv::Store,
}

impl FetchState {
    pub fn new(kv: kv::Store) -> FetchState {
        FetchState { kv }
    }

    /// The last crawl of `page`, if any. A value that does not decode (written
    /// by hand, or by a newer version) counts as no previous crawl: the page
    /// is fetched without validators and all its entries are news.
    pub async fn get(&self, page: &PageKey) -> Result<Option<PageState>, kv::EntryError> {
        let Some(bytes) = self.kv.get(page.to_string()).await? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(state) => Ok(Some(state)),
            Err(e) => {
                warn!(page = %page, error = %e, "unreadable fetch state; treating the page as new");
                Ok(None)
            }
        }
    }

    /// Records the crawl that was just published.
    pub async fn put(&self, page: &PageKey, state: &PageState) -> Result<(), kv::PutError> {
        let bytes = serde_json::to_vec(state).unwrap_or_default();
        self.kv.put(page.to_string(), bytes.into()).await?;
        Ok(())
    }
}
