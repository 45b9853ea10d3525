//! Everything at once: the two streams and the fetch-state bucket's, the
//! fetchers' queue, every projector node and every notification
//! destination. What is not there yet (a stream no service created, the
//! fetchers' consumer before the first fetcher) shows as absent, not as an
//! error.

use async_nats::jetstream::Context;
use pagefeed_events::streams::{FETCHERS_CONSUMER, FETCH_STATE_BUCKET};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use serde::Serialize;

use crate::consumers::{self, ConsumerStatus, Role};
use crate::nodes::{self, NodeStatus};
use crate::streams::{self, fetch_state_stream, StreamStatus};

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `PAGEFEED_TASKS`, `PAGEFEED_EVENTS`, `KV_pagefeed_fetch_state`.
    pub streams: Vec<StreamStatus>,
    /// The `fetchers` consumer; `None` until a fetcher has started.
    pub fetchers: Option<ConsumerStatus>,
    pub nodes: Vec<NodeStatus>,
    /// The `notify-<name>` consumers.
    pub notifiers: Vec<ConsumerStatus>,
    /// Any other consumer of `PAGEFEED_EVENTS` (a replay, one made by hand).
    pub other_consumers: Vec<String>,
    pub fetch_state: BucketStatus,
}

/// The fetch-state bucket.
#[derive(Debug, Clone, Serialize)]
pub struct BucketStatus {
    pub bucket: String,
    pub exists: bool,
    /// Pages with a fetch state (one key each, its last value only).
    pub keys: u64,
    pub bytes: u64,
}

pub async fn status(js: &Context) -> anyhow::Result<Status> {
    let tasks = streams::stream_status(js, TASKS_STREAM).await?;
    let events = streams::stream_status(js, EVENTS_STREAM).await?;
    let kv = streams::stream_status(js, &fetch_state_stream()).await?;

    let fetchers = match streams::find_stream(js, TASKS_STREAM).await? {
        Some(stream) => consumers::all(&stream)
            .await?
            .iter()
            .find(|info| info.name == FETCHERS_CONSUMER)
            .map(ConsumerStatus::from),
        None => None,
    };
    let mut notifiers = Vec::new();
    let mut other_consumers = Vec::new();
    if let Some(stream) = streams::find_stream(js, EVENTS_STREAM).await? {
        for info in consumers::all(&stream).await? {
            match Role::of(EVENTS_STREAM, &info.name) {
                Role::Notify(_) => notifiers.push(ConsumerStatus::from(&info)),
                Role::Other => other_consumers.push(info.name),
                Role::Node(_) | Role::Fetchers => {}
            }
        }
    }
    let nodes = if events.exists {
        nodes::nodes(js).await?
    } else {
        Vec::new()
    };
    Ok(Status {
        fetch_state: BucketStatus {
            bucket: FETCH_STATE_BUCKET.to_owned(),
            exists: kv.exists,
            keys: kv.subjects,
            bytes: kv.bytes,
        },
        streams: vec![tasks, events, kv],
        fetchers,
        nodes,
        notifiers,
        other_consumers,
    })
}
