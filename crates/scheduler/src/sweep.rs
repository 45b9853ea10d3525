//! The task sweeper: every task in `PAGEFEED_TASKS` ends as events, even one
//! the `fetchers` consumer will never deliver again (design invariant 1).
//!
//! Three kinds of task would otherwise end without a word:
//! - *stranded*: still in the stream but behind the consumer: at or below
//!   its ack floor, or already delivered while nothing awaits an ack. A
//!   clustered work queue can leave tasks so when acks and leader changes
//!   interleave (docs/RELIABILITY.md). Seen so on two passes in a row, a
//!   stranded task is put back in the queue (a copy carrying
//!   [`REQUEUES_HEADER`], then the original deleted), at most
//!   [`MAX_REQUEUES`] times; after that it ends as a `fetch_failed` with
//!   reason `stranded`;
//! - *past `max_deliver`*: JetStream says so in an advisory, and the task
//!   ends as a `fetch_failed` with reason `max_deliver`;
//! - *about to expire*: no fetcher took it within `task_ttl` less two
//!   sweeps; it ends as a `fetch_failed` with reason `expired` rather than
//!   being dropped silently by the stream's `max_age` soon after.
//!
//! Every scheduler sweeps. Two of them do the same things with the same
//! message ids, so JetStream stores each copy and each event once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::context::{ConsumerInfoErrorKind, Context};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{DeleteMessageErrorKind, RawMessageErrorKind, Stream};
use async_nats::jetstream::ErrorCode;
use async_nats::{HeaderMap, Subscriber};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use pagefeed_events::event::{Event, FetchFailed};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::streams::FETCHERS_CONSUMER;
use pagefeed_events::subject::{TASKS_STREAM, TASKS_SUBJECTS};
use pagefeed_events::task::{QUEUED_AT_HEADER, REQUEUES_HEADER};
use pagefeed_events::{jetstream_time, Config, Task};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// How many times one task is put back in the queue before it ends as
/// `stranded`: a task that strands again and again is not left to loop.
pub const MAX_REQUEUES: u32 = 3;
/// Tasks looked at in one pass; the rest wait for the next.
const MAX_PER_PASS: usize = 10_000;
/// Advisories remembered between passes; more are dropped (the tasks they
/// name are then found as stranded).
const MAX_ADVISORIES: usize = 100_000;

/// The advisory JetStream sends when a task reaches the consumer's
/// `max_deliver`.
pub fn max_deliveries_subject() -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{TASKS_STREAM}.{FETCHERS_CONSUMER}")
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Stranded tasks put back in the queue.
    pub requeued: u32,
    /// Tasks ended as `fetch_failed`: `stranded`, `max_deliver`, `expired`.
    pub stranded: u32,
    pub max_deliver: u32,
    pub expired: u32,
    /// Tasks behind the consumer seen for the first time (acted on at the
    /// next pass if they are still there).
    pub suspects: usize,
}

impl Swept {
    fn acted(&self) -> bool {
        self.requeued + self.stranded + self.max_deliver + self.expired > 0
    }
}

/// Sweeps every `scheduler.sweep_every` until `shutdown`.
pub async fn sweep_loop(
    client: async_nats::Client,
    js: Context,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut advisories = subscribe(&client, &shutdown).await;
    let mut tick = tokio::time::interval(cfg.scheduler.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeper = Sweeper::new(js, &cfg);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            advisory = next(&mut advisories) => match advisory {
                Some(payload) => sweeper.advised(&payload),
                None => advisories = subscribe(&client, &shutdown).await,
            },
            _ = tick.tick() => match sweeper.pass(&shutdown).await {
                Ok(swept) if swept.acted() => {
                    metrics.swept(&swept);
                    info!(
                        requeued = swept.requeued,
                        stranded = swept.stranded,
                        max_deliver = swept.max_deliver,
                        expired = swept.expired,
                        "tasks swept"
                    );
                }
                Ok(_) => {}
                Err(e) => warn!(error = format!("{e:#}"), "the task sweep failed; the next one tries again"),
            },
        }
    }
}

/// The advisories' subscription, or none while NATS refuses it (the
/// sweeper then finds tasks past `max_deliver` as stranded).
async fn subscribe(
    client: &async_nats::Client,
    shutdown: &CancellationToken,
) -> Option<Subscriber> {
    match client.subscribe(max_deliveries_subject()).await {
        Ok(subscriber) => Some(subscriber),
        Err(e) => {
            if !shutdown.is_cancelled() {
                warn!(error = %e, "cannot subscribe to max_deliver advisories");
            }
            None
        }
    }
}

/// The next advisory's payload; never ready without a subscription.
async fn next(advisories: &mut Option<Subscriber>) -> Option<bytes::Bytes> {
    match advisories {
        Some(subscriber) => subscriber.next().await.map(|msg| msg.payload),
        None => std::future::pending().await,
    }
}

/// JetStream's `io.nats.jetstream.advisory.v1.max_deliver`.
#[derive(Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: u32,
}

/// Why the sweeper ends a task.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Stranded { requeues: u32 },
    MaxDeliver { deliveries: u32 },
    Expired,
}

pub struct Sweeper {
    js: Context,
    /// `nats.task_ttl` and `scheduler.sweep_every`.
    task_ttl: Duration,
    sweep_every: Duration,
    /// Stream sequences seen behind the consumer at the last pass.
    suspects: BTreeSet<u64>,
    /// Stream sequence → deliveries, from the advisories since the last pass.
    max_delivered: BTreeMap<u64, u32>,
}

impl Sweeper {
    pub fn new(js: Context, cfg: &Config) -> Sweeper {
        Sweeper {
            js,
            task_ttl: cfg.nats.task_ttl,
            sweep_every: cfg.scheduler.sweep_every,
            suspects: BTreeSet::new(),
            max_delivered: BTreeMap::new(),
        }
    }

    /// Remembers a `max_deliver` advisory until the next pass.
    fn advised(&mut self, payload: &[u8]) {
        match serde_json::from_slice::<MaxDeliveries>(payload) {
            Ok(advisory) if self.max_delivered.len() < MAX_ADVISORIES => {
                self.max_delivered
                    .insert(advisory.stream_seq, advisory.deliveries);
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "an unreadable max_deliver advisory"),
        }
    }

    /// One look at the stream: ends the tasks past `max_deliver`, those
    /// about to expire, and those stranded on two passes in a row.
    pub async fn pass(&mut self, shutdown: &CancellationToken) -> anyhow::Result<Swept> {
        let mut stream = self.js.get_stream(TASKS_STREAM).await?;
        let state = stream.info().await?.state.clone();
        let mut swept = Swept::default();

        for (seq, deliveries) in self.max_delivered.clone() {
            if let Some(msg) = message_at(&stream, seq).await? {
                self.end(&stream, &msg, Ending::MaxDeliver { deliveries }, shutdown)
                    .await?;
                swept.max_deliver += 1;
            }
            self.max_delivered.remove(&seq);
        }
        if state.messages == 0 {
            self.suspects.clear();
            return Ok(swept);
        }

        let behind = behind_the_consumer(&stream).await?;
        let expires_before = Utc::now() - self.expiry_margin();
        let mut suspects = BTreeSet::new();
        let mut from = state.first_sequence;
        for _ in 0..MAX_PER_PASS {
            let Some(msg) = message_from(&stream, from).await? else {
                break;
            };
            from = msg.sequence + 1;
            if queued_at(&msg) < expires_before {
                self.end(&stream, &msg, Ending::Expired, shutdown).await?;
                swept.expired += 1;
            } else if msg.sequence > behind {
                break;
            } else if self.suspects.contains(&msg.sequence) {
                let requeues = requeues(&msg);
                if requeues < MAX_REQUEUES {
                    self.requeue(&stream, &msg, requeues + 1).await?;
                    swept.requeued += 1;
                } else {
                    self.end(&stream, &msg, Ending::Stranded { requeues }, shutdown)
                        .await?;
                    swept.stranded += 1;
                }
            } else {
                suspects.insert(msg.sequence);
            }
        }
        swept.suspects = suspects.len();
        self.suspects = suspects;
        Ok(swept)
    }

    /// How long a task may wait: `task_ttl` less two sweeps, so that a
    /// pass sees it before the stream's `max_age` removes it.
    fn expiry_margin(&self) -> chrono::TimeDelta {
        let wait = self.task_ttl.saturating_sub(self.sweep_every * 2);
        chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// Puts a copy of `msg` at the end of the queue, then deletes it. The
    /// copy's id derives from the original's sequence, so a second
    /// scheduler's copy is a duplicate.
    async fn requeue(
        &self,
        stream: &Stream,
        msg: &StreamMessage,
        requeues: u32,
    ) -> anyhow::Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("requeue:{}", msg.sequence).as_str(),
        );
        headers.insert(REQUEUES_HEADER, requeues.to_string().as_str());
        headers.insert(
            QUEUED_AT_HEADER,
            queued_at(msg).timestamp().to_string().as_str(),
        );
        self.js
            .publish_with_headers(msg.subject.clone(), headers, msg.payload.clone())
            .await?
            .await
            .context("the stranded task's copy was not stored")?;
        delete(stream, msg.sequence).await?;
        warn!(
            subject = %msg.subject,
            seq = msg.sequence,
            requeues,
            "a stranded task was put back in the queue"
        );
        Ok(())
    }

    /// Publishes the `fetch_failed` that ends `msg`'s story, then deletes it.
    async fn end(
        &self,
        stream: &Stream,
        msg: &StreamMessage,
        ending: Ending,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        match Task::decode(&msg.payload) {
            Ok(task) => {
                let failed = self.failure(&task, msg, ending);
                warn!(
                    page = %task.page,
                    reason = %failed.reason,
                    seq = msg.sequence,
                    "{}",
                    failed.detail
                );
                publish_all(
                    &self.js,
                    &[Outgoing::from(&Event::FetchFailed(failed))],
                    shutdown,
                )
                .await?;
            }
            // The fetchers end such a task as `bad_task` when they get it;
            // one that no fetcher will get is only removed.
            Err(e) => warn!(subject = %msg.subject, error = %e, "an undecodable task removed"),
        }
        delete(stream, msg.sequence).await
    }

    /// The event that ends `task`. Every field derives from the message, so
    /// two schedulers publish the same event (the same message id).
    fn failure(&self, task: &Task, msg: &StreamMessage, ending: Ending) -> FetchFailed {
        let queued = queued_at(msg);
        let ttl = humantime::format_duration(self.task_ttl);
        let (reason, detail, attempts, failed_at) = match ending {
            Ending::Stranded { requeues } => (
                "stranded",
                format!(
                    "the task was left behind the fetchers' consumer and put back {requeues} times"
                ),
                0,
                jetstream_time(msg.time),
            ),
            Ending::MaxDeliver { deliveries } => (
                "max_deliver",
                format!("the task was delivered {deliveries} times and never settled"),
                deliveries,
                jetstream_time(msg.time),
            ),
            Ending::Expired => (
                "expired",
                format!("no fetcher took the task within nats.task_ttl ({ttl})"),
                0,
                queued
                    + chrono::TimeDelta::from_std(self.task_ttl).unwrap_or(chrono::TimeDelta::MAX),
            ),
        };
        FetchFailed {
            page: task.page.clone(),
            url: task.url.clone(),
            failed_at,
            reason: reason.to_owned(),
            detail,
            status: None,
            attempts,
        }
    }
}

/// The highest stream sequence behind the `fetchers` consumer: its ack
/// floor, or what it delivered if no ack is awaited (0 if it does not exist).
async fn behind_the_consumer(stream: &Stream) -> anyhow::Result<u64> {
    match stream.consumer_info(FETCHERS_CONSUMER).await {
        Ok(info) if info.num_ack_pending == 0 => Ok(info.delivered.stream_sequence),
        Ok(info) => Ok(info.ack_floor.stream_sequence),
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Ok(0),
        Err(e) => match e.kind() {
            ConsumerInfoErrorKind::JetStream(js)
                if js.error_code() == ErrorCode::CONSUMER_NOT_FOUND =>
            {
                Ok(0)
            }
            _ => Err(e.into()),
        },
    }
}

/// The task at exactly `seq`, if it is still there.
async fn message_at(stream: &Stream, seq: u64) -> anyhow::Result<Option<StreamMessage>> {
    not_found_is_none(stream.get_raw_message(seq).await)
}

/// The first task at `seq` or after.
async fn message_from(stream: &Stream, seq: u64) -> anyhow::Result<Option<StreamMessage>> {
    not_found_is_none(
        stream
            .raw_message_builder()
            .sequence(seq)
            .next_by_subject(TASKS_SUBJECTS)
            .send()
            .await,
    )
}

fn not_found_is_none(
    got: Result<StreamMessage, async_nats::jetstream::stream::RawMessageError>,
) -> anyhow::Result<Option<StreamMessage>> {
    match got {
        Ok(msg) => Ok(Some(msg)),
        Err(e) if matches!(e.kind(), RawMessageErrorKind::NoMessageFound) => Ok(None),
        Err(e) => match e.kind() {
            RawMessageErrorKind::JetStream(js)
                if js.error_code() == ErrorCode::NO_MESSAGE_FOUND =>
            {
                Ok(None)
            }
            _ => Err(e.into()),
        },
    }
}

/// Deletes the task at `seq`; one already gone (acked, or swept by another
/// scheduler) is fine.
async fn delete(stream: &Stream, seq: u64) -> anyhow::Result<()> {
    match stream.delete_message(seq).await {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            DeleteMessageErrorKind::JetStream(js)
                if js.error_code() == ErrorCode::NO_MESSAGE_FOUND
                    || js.error_code() == ErrorCode::SEQUENCE_NOT_FOUND =>
            {
                Ok(())
            }
            _ => Err(e.into()),
        },
    }
}

/// How many times the sweeper already put this task back.
fn requeues(msg: &StreamMessage) -> u32 {
    msg.headers
        .get(REQUEUES_HEADER)
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or(0)
}

/// When the task's first copy was stored.
fn queued_at(msg: &StreamMessage) -> DateTime<Utc> {
    msg.headers
        .get(QUEUED_AT_HEADER)
        .and_then(|v| v.as_str().parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(|| jetstream_time(msg.time))
}
