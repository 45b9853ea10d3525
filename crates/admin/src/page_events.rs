//! One page's events, the newest `last` of them: read in stream order with
//! an ephemeral ordered consumer filtered on the page's subjects
//! (`pagefeed.events.<type>.<site>.<id>`), keeping only the newest `last`
//! in memory however many the stream holds.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::{jetstream_time, PageKey};
use serde::Serialize;

use crate::streams;

/// The types of the events about one page (`retention` concerns a site).
pub const PAGE_EVENT_TYPES: [&str; 4] = [
    "page_crawled",
    "entry_observed",
    "page_unchanged",
    "fetch_failed",
];
/// The most events one command returns (`--last`).
pub const MAX_LAST: usize = 10_000;
/// The longest wait for the next message of a replay the server said has more.
const NEXT_MESSAGE_WITHIN: Duration = Duration::from_secs(10);

/// One stored event.
#[derive(Debug, Clone, Serialize)]
pub struct PageEvent {
    pub seq: u64,
    pub subject: String,
    /// The subject's type token (`page_crawled`, `entry_observed`, ...).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When JetStream stored it.
    pub time: DateTime<Utc>,
    /// Its payload: JSON, or `{"unreadable": "<the text>"}` when it is not.
    pub event: serde_json::Value,
}

/// What [`page_events`] found.
#[derive(Debug, Clone, Serialize)]
pub struct PageEvents {
    pub page: String,
    /// Events of the page (of the type asked, if one was) the stream holds.
    pub total: u64,
    /// The newest of them, oldest first.
    pub events: Vec<PageEvent>,
}

/// The subjects of `page`'s events, of type `event_type` or of any.
pub fn page_subjects(page: &PageKey, event_type: Option<&str>) -> String {
    format!(
        "pagefeed.events.{}.{}.{}",
        event_type.unwrap_or("*"),
        page.site(),
        page.id()
    )
}

/// The newest `last` events of `page` (of `event_type` only, if given).
pub async fn page_events(
    js: &Context,
    page: &PageKey,
    event_type: Option<&str>,
    last: usize,
) -> anyhow::Result<PageEvents> {
    if let Some(t) = event_type {
        anyhow::ensure!(
            PAGE_EVENT_TYPES.contains(&t),
            "\"{}\" is not the type of a page's events: one of {}",
            t.escape_default(),
            PAGE_EVENT_TYPES.join(", ")
        );
    }
    anyhow::ensure!(
        (1..=MAX_LAST).contains(&last),
        "--last must be between 1 and {MAX_LAST}"
    );
    let stream = streams::stream(js, EVENTS_STREAM).await?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: page_subjects(page, event_type),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {EVENTS_STREAM}: {e}"))?;
    // What the filter selects now: the replay ends there, however many
    // events are stored while it runs.
    let total = consumer.cached_info().num_pending;
    let name = consumer.cached_info().name.clone();
    let mut newest = VecDeque::with_capacity(last.min(total as usize));
    if total > 0 {
        let mut messages = consumer.messages().await?;
        let mut read = 0;
        while read < total {
            let message = tokio::time::timeout(NEXT_MESSAGE_WITHIN, messages.next())
                .await
                .map_err(|_| anyhow::anyhow!("{EVENTS_STREAM} stopped answering"))?
                .ok_or_else(|| anyhow::anyhow!("{EVENTS_STREAM}'s replay ended early"))??;
            read += 1;
            let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (seq, time, pending) = (
                info.stream_sequence,
                jetstream_time(info.published),
                info.pending,
            );
            if newest.len() == last {
                newest.pop_front();
            }
            newest.push_back(PageEvent {
                seq,
                subject: message.subject.to_string(),
                event_type: message
                    .subject
                    .split('.')
                    .nth(2)
                    .unwrap_or_default()
                    .to_owned(),
                time,
                event: payload_json(&message.payload),
            });
            if pending == 0 {
                break;
            }
        }
    }
    // The server would remove it 30 s after its last use; gone now, it
    // does not show in `status` among the other consumers.
    let _ = stream.delete_consumer(&name).await;
    Ok(PageEvents {
        page: page.to_string(),
        total,
        events: newest.into(),
    })
}

/// A payload as JSON; one that is not (garbage published by hand) as its
/// text, so that it can still be seen.
fn payload_json(payload: &[u8]) -> serde_json::Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| serde_json::json!({ "unreadable": String::from_utf8_lossy(payload) }))
}
