//! Publishing as fast as JetStream acks: how many messages go in one
//! `publish_all` call and how many calls are in flight (tasks and events
//! alike), and [`publish`], which times a run's events that way.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt as _;
use pagefeed_events::publish::{publish_all, Outgoing};
use tokio_util::sync::CancellationToken;

/// Messages per `publish_all` call, and calls in flight: together under
/// async-nats's 5,000 acks in flight per context, or sends wait on acks that
/// are only awaited after the sends (a deadlock).
pub const CHUNK: usize = 1_000;
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// Publishes `messages` to the events stream as fast as JetStream acks
/// them, [`CHUNK`] per `publish_all` call with [`CHUNKS_IN_FLIGHT`] calls
/// in flight, and checks that the stream ends at the last ack; the time
/// taken.
pub async fn publish(js: &jetstream::Context, messages: &[Outgoing]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let published = futures::stream::iter(messages.chunks(CHUNK))
        .map(|chunk| publish_all(js, chunk, &cancel))
        .buffer_unordered(CHUNKS_IN_FLIGHT)
        .fold(Ok(0u64), |acc: anyhow::Result<u64>, r| async move {
            let acks = r?;
            Ok(acc?.max(acks.iter().map(|a| a.sequence).max().unwrap_or(0)))
        })
        .await?;
    let took = started.elapsed();
    let last = pagefeed_testkit::streams::events_last_seq(js).await?;
    anyhow::ensure!(
        published == last,
        "published up to {published}, stream at {last}"
    );
    Ok(took)
}
