//! The consumers as `nats consumer report` shows them, and which part of
//! pagefeed each one is: the fetchers' shared queue, a projector node's
//! position, a notification destination's position, or something else (an
//! ephemeral replay, a consumer made by hand).

use async_nats::jetstream::consumer;
use async_nats::jetstream::stream::Stream;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use pagefeed_events::jetstream_time;
use pagefeed_events::streams::FETCHERS_CONSUMER;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use serde::Serialize;

/// Names of projector nodes' consumers: `projector-<node>`
/// (`pagefeed_events::streams::projector_consumer_name`).
const NODE_PREFIX: &str = "projector-";
/// Names of destinations' consumers: `notify-<name>`
/// (`pagefeed_events::streams::notify_consumer_name`).
const NOTIFY_PREFIX: &str = "notify-";

/// What a consumer is to pagefeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The `fetchers` consumer of `PAGEFEED_TASKS`.
    Fetchers,
    /// Projector node `0` (`projector-<node>` on `PAGEFEED_EVENTS`).
    Node(String),
    /// Notification destination `0` (`notify-<name>` on `PAGEFEED_EVENTS`).
    Notify(String),
    Other,
}

impl Role {
    /// The role of consumer `name` of `stream`.
    pub fn of(stream: &str, name: &str) -> Role {
        match stream {
            TASKS_STREAM if name == FETCHERS_CONSUMER => Role::Fetchers,
            EVENTS_STREAM => {
                if let Some(node) = name.strip_prefix(NODE_PREFIX) {
                    Role::Node(node.to_owned())
                } else if let Some(destination) = name.strip_prefix(NOTIFY_PREFIX) {
                    Role::Notify(destination.to_owned())
                } else {
                    Role::Other
                }
            }
            _ => Role::Other,
        }
    }
}

/// One consumer's state.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerStatus {
    pub stream: String,
    pub name: String,
    /// Messages its filter selects that it has not delivered yet.
    pub pending: u64,
    /// Delivered, not acked yet.
    pub ack_pending: usize,
    /// Delivered more than once.
    pub redelivered: usize,
    /// Pull requests waiting for messages (clients pulling now).
    pub waiting: usize,
    /// Stream sequence of its last delivery.
    pub delivered_seq: u64,
    /// Stream sequence up to which everything is acked.
    pub ack_floor_seq: u64,
    /// Its last delivery or ack.
    pub last_active: Option<DateTime<Utc>>,
}

impl From<&consumer::Info> for ConsumerStatus {
    fn from(info: &consumer::Info) -> ConsumerStatus {
        let last_active = [info.delivered.last_active, info.ack_floor.last_active]
            .into_iter()
            .flatten()
            .map(jetstream_time)
            .max();
        ConsumerStatus {
            stream: info.stream_name.clone(),
            name: info.name.clone(),
            pending: info.num_pending,
            ack_pending: info.num_ack_pending,
            redelivered: info.num_redelivered,
            waiting: info.num_waiting,
            delivered_seq: info.delivered.stream_sequence,
            ack_floor_seq: info.ack_floor.stream_sequence,
            last_active,
        }
    }
}

/// Every consumer of `stream`, sorted by name.
pub async fn all(stream: &Stream) -> anyhow::Result<Vec<consumer::Info>> {
    let mut infos: Vec<consumer::Info> = stream.consumers().try_collect().await?;
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_names_pagefeed_gives() {
        assert_eq!(Role::of(TASKS_STREAM, "fetchers"), Role::Fetchers);
        assert_eq!(
            Role::of(EVENTS_STREAM, "projector-a"),
            Role::Node("a".into())
        );
        assert_eq!(
            Role::of(EVENTS_STREAM, "notify-projector-x"),
            Role::Notify("projector-x".into())
        );
        // The names mean something on their own stream only.
        assert_eq!(Role::of(TASKS_STREAM, "projector-a"), Role::Other);
        assert_eq!(Role::of(EVENTS_STREAM, "fetchers"), Role::Other);
        assert_eq!(Role::of(EVENTS_STREAM, "Gl3FKmOn"), Role::Other);
    }
}
