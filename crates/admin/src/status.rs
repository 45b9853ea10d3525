//! Everything at once: the two streams and the two buckets' (fetch state,
//! robots.txt), the
//! fetchers' queue, every projector node and every notification
//! destination. What is not there yet (a stream no service created, the
//! fetchers' consumer before the first fetcher) shows as absent, not as an
//! error.

use async_nats::jetstream::Context;
use pagefeed_events::streams::{FETCHERS_CONSUMER, FETCH_STATE_BUCKET, ROBOTS_BUCKET};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use serde::Serialize;

use crate::consumers::{self, ConsumerStatus, Role};
use crate::nodes::{self, NodeStatus};
use crate::streams::{self, bucket_stream, StreamStatus};

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `PAGEFEED_TASKS`, `PAGEFEED_EVENTS`, `KV_pagefeed_fetch_state`,
    /// `KV_pagefeed_robots`.
    pub streams: Vec<StreamStatus>,
    /// The `fetchers` consumer; `None` until a fetcher has started.
    pub fetchers: Option<ConsumerStatus>,
    pub nodes: Vec<NodeStatus>,
    /// The `notify-<name>` consumers.
    pub notifiers: Vec<ConsumerStatus>,
    /// Any other consumer of `PAGEFEED_EVENTS` (a replay, one made by hand).
    pub other_consumers: Vec<String>,
    pub fetch_state: BucketStatus,
    /// The robots.txt cache: one key per host.
    pub robots: BucketStatus,
}

/// A key-value bucket.
#[derive(Debug, Clone, Serialize)]
pub struct BucketStatus {
    pub bucket: String,
    pub exists: bool,
    /// Its keys (pages with a fetch state, hosts with a robots.txt), each
    /// counted once (its last value only).
    pub keys: u64,
    pub bytes: u64,
}

impl BucketStatus {
    fn of(bucket: &str, stream: &StreamStatus) -> BucketStatus {
        BucketStatus {
            bucket: bucket.to_owned(),
            exists: stream.exists,
            keys: stream.subjects,
            bytes: stream.bytes,
        }
    }
}

pub async fn status(js: &Context) -> anyhow::Result<Status> {
    let tasks = streams::stream_status(js, TASKS_STREAM).await?;
    let events = streams::stream_status(js, EVENTS_STREAM).await?;
    let kv = streams::stream_status(js, &bucket_stream(FETCH_STATE_BUCKET)).await?;
    let robots = streams::stream_status(js, &bucket_stream(ROBOTS_BUCKET)).await?;

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
        fetch_state: BucketStatus::of(FETCH_STATE_BUCKET, &kv),
        robots: BucketStatus::of(ROBOTS_BUCKET, &robots),
        streams: vec![tasks, events, kv, robots],
        fetchers,
        nodes,
        notifiers,
        other_consumers,
    })
}
