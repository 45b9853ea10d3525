//! The projector nodes, as NATS knows them: one durable consumer
//! `projector-<node>` on `PAGEFEED_EVENTS` each, whose position is what the
//! node has received; and retiring a node by deleting its consumer (the
//! stream keeps no other trace of it).

use async_nats::jetstream::{consumer, Context};
use chrono::{DateTime, Utc};
use pagefeed_events::streams::projector_consumer_name;
use pagefeed_events::subject::{is_token, EVENTS_STREAM};
use serde::Serialize;

use crate::consumers::{self, ConsumerStatus, Role};
use crate::streams;

/// A projector node's place in the log.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub node: String,
    pub consumer: String,
    /// The last stream sequence delivered to the node: what it has applied,
    /// to within the batches it holds (its consumer takes no acks).
    pub position: u64,
    /// Stream sequence of its last delivery (its consumer's `delivered`).
    pub delivered_seq: u64,
    /// Its consumer's ack floor: with no acks taken, the server keeps it
    /// at the last delivery.
    pub ack_floor_seq: u64,
    /// Events stored after `position`: what the node has still to receive.
    pub lag: u64,
    /// Its last delivery.
    pub last_active: Option<DateTime<Utc>>,
    /// NATS removes the consumer once the node has been gone this long.
    pub idle_timeout_secs: Option<u64>,
}

impl NodeStatus {
    fn of(node: String, info: &consumer::Info) -> NodeStatus {
        let c = ConsumerStatus::from(info);
        let idle = info.config.inactive_threshold;
        NodeStatus {
            node,
            consumer: c.name,
            position: c.delivered_seq.max(c.ack_floor_seq),
            delivered_seq: c.delivered_seq,
            ack_floor_seq: c.ack_floor_seq,
            lag: c.pending,
            last_active: c.last_active,
            idle_timeout_secs: (!idle.is_zero()).then_some(idle.as_secs()),
        }
    }
}

/// Every node that has a consumer now, by name.
pub async fn nodes(js: &Context) -> anyhow::Result<Vec<NodeStatus>> {
    let stream = streams::stream(js, EVENTS_STREAM).await?;
    Ok(consumers::all(&stream)
        .await?
        .iter()
        .filter_map(|info| match Role::of(EVENTS_STREAM, &info.name) {
            Role::Node(node) => Some(NodeStatus::of(node, info)),
            _ => None,
        })
        .collect())
}

/// Deletes node `node`'s consumer and returns what it was. Only a
/// `projector-<node>` consumer can go this way: the fetchers' and the
/// notifiers' consumers have other names. A node still running re-creates
/// its consumer from its file: stop its projector first.
pub async fn retire(js: &Context, node: &str) -> anyhow::Result<NodeStatus> {
    anyhow::ensure!(
        is_token(node),
        "\"{}\" is not a node name ([a-z0-9_-]+)",
        node.escape_default()
    );
    let known = nodes(js).await?;
    let Some(found) = known.iter().find(|n| n.node == node).cloned() else {
        let names: Vec<&str> = known.iter().map(|n| n.node.as_str()).collect();
        anyhow::bail!(
            "no projector node named {node} (no consumer {} on {EVENTS_STREAM}); known nodes: {}",
            projector_consumer_name(node),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
    };
    let stream = streams::stream(js, EVENTS_STREAM).await?;
    stream
        .delete_consumer(&found.consumer)
        .await
        .map_err(|e| anyhow::anyhow!("cannot delete consumer {}: {e}", found.consumer))?;
    Ok(found)
}
