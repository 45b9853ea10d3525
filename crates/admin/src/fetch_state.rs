//! A page's entry in the fetch-state bucket: what the fetchers remember of
//! its last crawl (validators for the conditional GET, title, entry ids).

use async_nats::jetstream::kv::Operation;
use async_nats::jetstream::Context;
use chrono::{DateTime, Utc};
use pagefeed_events::redact::redact_url;
use pagefeed_events::streams::FETCH_STATE_BUCKET;
use pagefeed_events::{jetstream_time, PageKey};
use serde::Serialize;

use crate::streams::{self, bucket_stream};

/// The entry, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct FetchStateEntry {
    pub page: String,
    /// The bucket's revision of this value.
    pub revision: u64,
    /// When it was written: the page's last successful crawl.
    pub updated: DateTime<Utc>,
    /// The value: JSON, or `{"unreadable": "<the text>"}` when it is not.
    pub state: serde_json::Value,
}

/// `page`'s fetch state; an error when the bucket or the page has none.
pub async fn fetch_state(js: &Context, page: &PageKey) -> anyhow::Result<FetchStateEntry> {
    // Looked up as a stream first, for a clear error when it is missing.
    streams::stream(js, &bucket_stream(FETCH_STATE_BUCKET)).await?;
    let kv = js
        .get_key_value(FETCH_STATE_BUCKET)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open bucket {FETCH_STATE_BUCKET}: {e}"))?;
    let entry = kv
        .entry(page.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {page} in bucket {FETCH_STATE_BUCKET}: {e}"))?;
    match entry {
        Some(entry) if entry.operation == Operation::Put => Ok(FetchStateEntry {
            page: page.to_string(),
            revision: entry.revision,
            updated: jetstream_time(entry.created),
            state: readable_state(&entry.value),
        }),
        _ => anyhow::bail!(
            "page {page} has no fetch state in bucket {FETCH_STATE_BUCKET}: no crawl of it has \
             succeeded yet (or it is not a configured page)"
        ),
    }
}

/// The stored value as JSON, its URL without credentials (a site's URL may
/// carry a token); a value that is not JSON as its text.
fn readable_state(value: &[u8]) -> serde_json::Value {
    let mut state: serde_json::Value = serde_json::from_slice(value)
        .unwrap_or_else(|_| serde_json::json!({ "unreadable": String::from_utf8_lossy(value) }));
    if let Some(url) = state.get_mut("url") {
        if let Some(text) = url.as_str() {
            *url = serde_json::Value::String(redact_url(text).into_owned());
        }
    }
    state
}
