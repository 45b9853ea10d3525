//! Writing to pagefeed's streams as a service would, and reading back what
//! they hold: every stored message by sequence, decoded tasks and events,
//! and whether the fetchers have settled every task.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::streams::FETCHERS_CONSUMER;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::{Event, PageKey, Task};
use tokio_util::sync::CancellationToken;

use crate::wait::wait_for;

/// A JetStream context on a plain client.
pub async fn jetstream_at(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(url).await?;
    Ok(jetstream::new(client))
}

/// A JetStream context on a client of every server in `urls` (comma
/// separated, as `nats.url` takes them), patient enough for a stream's
/// leader to move: it keeps trying to connect, and waits 10 s for answers.
pub async fn jetstream_on_all(urls: &str) -> anyhow::Result<jetstream::Context> {
    let addrs = urls
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<async_nats::ServerAddr>, _>>()?;
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(addrs)
        .await?;
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(10));
    Ok(js)
}

/// One message as the stream stores it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: u64,
    pub subject: String,
    pub msg_id: Option<String>,
    pub headers: async_nats::HeaderMap,
    pub payload: Bytes,
    /// When JetStream stored it.
    pub time: DateTime<Utc>,
}

/// The last sequence of `PAGEFEED_EVENTS` now.
pub async fn events_last_seq(js: &jetstream::Context) -> anyhow::Result<u64> {
    Ok(js
        .get_stream(EVENTS_STREAM)
        .await?
        .info()
        .await?
        .state
        .last_sequence)
}

/// Every message `stream` holds now, in order, read by sequence (works on a
/// work-queue stream too, without consuming anything).
pub async fn stored(js: &jetstream::Context, stream: &str) -> anyhow::Result<Vec<Stored>> {
    let mut out = Vec::new();
    each_stored(js, stream, |m| out.push(m)).await?;
    Ok(out)
}

/// Hands `visit` every message `stream` holds now, by sequence, one at a
/// time (a long stream is never all in memory).
pub async fn each_stored(
    js: &jetstream::Context,
    stream: &str,
    mut visit: impl FnMut(Stored),
) -> anyhow::Result<()> {
    let mut handle = js.get_stream(stream).await?;
    let state = handle.info().await?.state.clone();
    if state.messages == 0 {
        return Ok(());
    }
    for seq in state.first_sequence..=state.last_sequence {
        if let Some(msg) = message_at(&handle, seq).await? {
            visit(Stored {
                seq,
                subject: msg.subject.to_string(),
                msg_id: msg
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_owned()),
                headers: msg.headers,
                time: pagefeed_events::jetstream_time(msg.time),
                payload: msg.payload,
            });
        }
    }
    Ok(())
}

/// The message at `seq`; `None` for a gap (a deleted or expired message).
/// A request not answered (the stream's leader moving, in a cluster) is
/// asked again for up to 30 s, so that a gap is never made up.
async fn message_at(
    handle: &jetstream::stream::Stream,
    seq: u64,
) -> anyhow::Result<Option<StreamMessage>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match handle.get_raw_message(seq).await {
            Ok(msg) => return Ok(Some(msg)),
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                return Ok(None)
            }
            Err(e) if std::time::Instant::now() > deadline => {
                anyhow::bail!("reading message {seq}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The tasks `PAGEFEED_TASKS` holds now, with their message ids.
pub async fn stored_tasks(js: &jetstream::Context) -> anyhow::Result<Vec<(Task, String)>> {
    stored(js, TASKS_STREAM)
        .await?
        .into_iter()
        .map(|m| {
            let task = Task::decode(&m.payload)?;
            anyhow::ensure!(
                m.subject == task.subject(),
                "subject {} does not match task {:?}",
                m.subject,
                task
            );
            Ok((task, m.msg_id.unwrap_or_default()))
        })
        .collect()
}

/// Tasks grouped by slot: slot start → page ids in publication order.
pub fn ids_by_slot(tasks: &[(Task, String)]) -> BTreeMap<i64, Vec<u64>> {
    let mut slots = BTreeMap::<i64, Vec<u64>>::new();
    for (task, _) in tasks {
        slots
            .entry(task.slot)
            .or_default()
            .push(task.page.id().parse().unwrap_or(u64::MAX));
    }
    slots
}

/// The events `PAGEFEED_EVENTS` holds now, decoded, in stream order.
pub async fn stored_events(js: &jetstream::Context) -> anyhow::Result<Vec<Event>> {
    stored(js, EVENTS_STREAM)
        .await?
        .into_iter()
        .map(|m| Ok(Event::decode(&m.payload)?))
        .collect()
}

/// Publishes crawl tasks for `ids` of `site` (URL from `url_template`) in
/// slot `slot`, as the scheduler would, and waits for JetStream's acks.
pub async fn publish_tasks(
    js: &jetstream::Context,
    site: &str,
    url_template: &str,
    ids: impl IntoIterator<Item = u64>,
    slot: i64,
) -> anyhow::Result<()> {
    let tasks: Vec<Task> = ids
        .into_iter()
        .map(|id| {
            let page = PageKey::new(site, &id.to_string())?;
            Ok(Task::new(
                page,
                url_template.replace("{id}", &id.to_string()),
                slot,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let msgs: Vec<Outgoing> = tasks.iter().map(Into::into).collect();
    publish_all(js, &msgs, &CancellationToken::new()).await?;
    Ok(())
}

/// Publishes `events` (awaiting every ack, retrying through disconnects)
/// and returns the stream's last sequence after them.
pub async fn publish_events(js: &jetstream::Context, events: &[Event]) -> anyhow::Result<u64> {
    let msgs: Vec<Outgoing> = events.iter().map(Outgoing::from).collect();
    publish_all(js, &msgs, &CancellationToken::new()).await?;
    events_last_seq(js).await
}

/// Waits until the fetchers' consumer has nothing pending and nothing
/// unacked: every task published so far is settled.
pub async fn wait_tasks_settled(js: &jetstream::Context, timeout: Duration) -> anyhow::Result<()> {
    wait_tasks_ended(js, 0, timeout).await
}

/// [`wait_tasks_settled`], once the fetchers have been handed at least the
/// first `tasks` messages of `PAGEFEED_TASKS`.
pub async fn wait_tasks_ended(
    js: &jetstream::Context,
    tasks: u64,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_for(timeout, "every task to be acked", || async {
        let consumer: Result<jetstream::consumer::PullConsumer, _> = js
            .get_consumer_from_stream(FETCHERS_CONSUMER, TASKS_STREAM)
            .await;
        // Not there yet: no fetcher has started.
        let Ok(mut consumer) = consumer else {
            return Ok(None);
        };
        // Not answered: its leader may be moving (a cluster) or restarting.
        let Ok(info) = consumer.info().await else {
            return Ok(None);
        };
        let ended = info.num_pending == 0
            && info.num_ack_pending == 0
            && info.delivered.stream_sequence >= tasks;
        Ok(ended.then_some(()))
    })
    .await
}
