//! Replication: this node's position in `PAGEFEED_EVENTS` is a durable
//! consumer named `projector-<node>` (so `nats consumer report
//! PAGEFEED_EVENTS` shows every replica and its lag), but the redb file is
//! the authority: at every (re)start the consumer is re-created from the
//! file's applied sequence + 1 (the consumer itself is defined with the
//! rest of the topology, in `pagefeed_events::streams`). Events are applied
//! in batches by the node's [`crate::applier`] while the next batch gathers,
//! the applied sequence committing with them; the consumer is read through
//! `pagefeed_events::consume`. Batches and pull requests are
//! bounded by bytes as well as by count ([`crate::batch`]), so a node holds
//! a few of them at most, whatever the stream holds. A node that stops for
//! good disappears from NATS after `idle` (the consumer's inactive
//! threshold). A commit that fails (a full disk) stalls applying, not the
//! node: the file is opened again, reads go on, and applying resumes from
//! what the file holds, retried with a back-off until a commit succeeds.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull, Consumer};
use pagefeed_events::backoff::Backoff;
use pagefeed_events::consume::{consume, Flow, Messages, Pull, Source};
use pagefeed_events::streams::{projector_consumer, projector_consumer_name};
use pagefeed_events::subject::EVENTS_STREAM;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::applier::{Applier, BatchReport};
use crate::batch::{pull_bytes, Batch, Delivered, MAX_BATCH};
use crate::store::{Store, StoreError};
/// How long a batch waits for more events once it has one: a quiet stream is
/// still applied within milliseconds.
const BATCH_LINGER: Duration = Duration::from_millis(5);
/// A batch that has this many events when [`BATCH_LINGER`] runs out is
/// arriving at 10,000 events/s or more (a backlog, or a flood): it waits up
/// to [`FLOOD_LINGER`] from its first message to fill to [`MAX_BATCH`], the
/// way a Kafka consumer waits `fetch.max.wait.ms` for `fetch.min.bytes`: a
/// large batch costs less per event (one postings row per gram and one
/// commit per batch; docs/BENCHMARKS.md, "Projector"); a steady stream
/// slower than that is still applied within [`BATCH_LINGER`].
const FLOOD_START: usize = 50;
const FLOOD_LINGER: Duration = Duration::from_millis(250);
/// How often rejected rows whose sequences have left the stream are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// The first and longest waits before applying again after a failed commit.
const STALL_RETRY_FIRST: Duration = Duration::from_millis(200);
const STALL_RETRY_MAX: Duration = Duration::from_secs(10);

/// What the replication loop tells the node as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A batch committed.
    Committed(BatchReport),
    /// A commit failed (a full disk, typically): applying is stalled until
    /// one succeeds again.
    Failed(&'a anyhow::Error),
    /// Opening the file again after a failed commit failed too.
    StillFailing(&'a anyhow::Error),
    /// The file was opened again after a failed commit: it holds its last
    /// synced commit, which may be older than the last one published.
    Reopened,
}

/// Replays `PAGEFEED_EVENTS` into `store` until `shutdown`, healing by itself
/// after disconnects and server restarts.
pub async fn replicate(
    js: jetstream::Context,
    store: Arc<Store>,
    node: String,
    idle: Duration,
    shutdown: CancellationToken,
    on_progress: impl Fn(Progress<'_>) + Send + Sync,
) -> anyhow::Result<()> {
    let applied = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.applied_seq()).await??
    };
    let mut replication = Replication {
        applier: Applier::start(store.clone())?,
        js,
        store,
        node,
        idle,
        applied,
        delivered: 0,
        shutdown: shutdown.clone(),
        on_progress,
        stall_retry: Backoff::new(STALL_RETRY_FIRST, STALL_RETRY_MAX),
        stalled: false,
    };
    let outcome = consume(&mut replication, &shutdown).await;
    replication.applier.stop().await;
    outcome
}

/// This node's consumer, re-created after what the file has applied
/// whenever it is set up, and the batches read from it.
struct Replication<F> {
    js: jetstream::Context,
    store: Arc<Store>,
    applier: Applier,
    node: String,
    idle: Duration,
    /// The sequence the file has applied: the consumer starts after it.
    applied: u64,
    /// The consumer sequence of the last delivery from the current consumer
    /// (0 when it is new): the next must follow it, see [`gather`].
    delivered: u64,
    shutdown: CancellationToken,
    on_progress: F,
    /// The waits between attempts to apply after failed commits, reset by a
    /// commit that succeeds.
    stall_retry: Backoff,
    /// Whether the last commit failed.
    stalled: bool,
}

impl<F: Fn(Progress<'_>) + Send + Sync> Source for Replication<F> {
    const WHAT: &'static str = "events";

    fn pull(&self) -> Pull {
        Pull {
            max_bytes: Some(pull_bytes(self.js.client().server_info().max_payload)),
            ..Pull::new(MAX_BATCH)
        }
    }

    async fn consumer(&mut self) -> anyhow::Result<Consumer<pull::Config>> {
        self.delivered = 0;
        recreate_consumer(&self.js, &self.node, self.applied, self.idle).await
    }

    async fn read(&mut self, messages: &mut Messages) -> anyhow::Result<Flow> {
        info!(node = %self.node, from = self.applied + 1, "replicating");
        let Replication {
            js,
            store,
            applier,
            applied,
            delivered,
            shutdown,
            on_progress,
            stall_retry,
            stalled,
            node,
            ..
        } = self;
        // The next batch gathers while the last one is applied.
        let (tx, mut rx) = mpsc::channel::<Batch>(1);
        let read = async {
            let next = gather(messages, delivered, &tx, js, store, shutdown).await;
            drop(tx);
            next
        };
        // The receiver goes with the applier: once it stops (a failed
        // commit), the gathering sees the channel closed and stops too.
        let applying = async move {
            applier
                .apply_all(&mut rx, |report| {
                    *applied = report.applied_seq;
                    if std::mem::take(stalled) {
                        info!(node = %node, applied = report.applied_seq, "commits succeed again: applying resumed");
                        stall_retry.reset();
                    }
                    on_progress(Progress::Committed(report));
                })
                .await
        };
        let (next, outcome) = tokio::join!(read, applying);
        match outcome {
            Ok(()) => Ok(next),
            Err(e) if is_storage_failure(&e) => self.stall(&e).await,
            Err(e) => Err(e),
        }
    }
}

impl<F: Fn(Progress<'_>) + Send + Sync> Replication<F> {
    /// After a failed commit: opens the file again (redb refuses every
    /// access after a failed write, reads included, until then), waits, and
    /// has the consumer set up again after what the file holds, so that
    /// applying resumes; nothing is lost, the stream has it all.
    async fn stall(&mut self, failed: &anyhow::Error) -> anyhow::Result<Flow> {
        self.stalled = true;
        error!(
            node = %self.node,
            applied = self.applied,
            error = format!("{failed:#}"),
            "a commit failed: applying is stalled until the store can be written again (reads go on)"
        );
        (self.on_progress)(Progress::Failed(failed));
        loop {
            let store = self.store.clone();
            let reopened = tokio::task::spawn_blocking(move || {
                store.reopen()?;
                store.applied_seq()
            })
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from));
            let retry_in = self.stall_retry.next_delay();
            let retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX);
            let reopened = match reopened {
                Ok(applied) => {
                    self.applied = applied;
                    (self.on_progress)(Progress::Reopened);
                    info!(
                        node = %self.node,
                        applied,
                        retry_in_ms,
                        "store opened again; applying again after a wait"
                    );
                    true
                }
                Err(e) => {
                    warn!(node = %self.node, error = format!("{e:#}"), "cannot open the store again; retrying");
                    (self.on_progress)(Progress::StillFailing(&e));
                    false
                }
            };
            if !pagefeed_events::backoff::sleep(retry_in, &self.shutdown).await {
                return Ok(Flow::Stop);
            }
            if reopened {
                return Ok(Flow::Recreate);
            }
        }
    }
}

/// Whether `e` is the store failing to read or write its file (a full disk),
/// which stalls applying, rather than a fault of the node.
fn is_storage_failure(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Redb(_) | StoreError::Closed)
    )
}

/// Gathers batches and hands them to the applier: a batch is handed over
/// once it has waited [`BATCH_LINGER`] since its first message (or
/// [`FLOOD_LINGER`] when events arrive fast, see [`FLOOD_START`]), or is
/// full, and the applier is free to take it; it keeps growing, up to
/// [`MAX_BATCH`] events or [`crate::batch::MAX_BATCH_BYTES`], while the
/// applier is busy. A quiet stream is thus applied within milliseconds, and
/// a node behind applies its backlog in full batches, where the cost of a
/// commit and of each gram's postings row is spread over the most events
/// (group commit).
///
/// The consumer takes no acks, so JetStream counts a delivery lost on the
/// way (a reconnect) as done and goes on with the next: each delivery's
/// consumer sequence must follow `delivered`'s, and on a jump the consumer
/// is set up again after what the file holds, so nothing is skipped.
///
/// [`Flow::Recreate`] once the messages fail, end or jump; [`Flow::Stop`]
/// on shutdown, or when the applier stopped (its error is what counts).
async fn gather(
    messages: &mut Messages,
    delivered: &mut u64,
    tx: &mpsc::Sender<Batch>,
    js: &jetstream::Context,
    store: &Arc<Store>,
    shutdown: &CancellationToken,
) -> Flow {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    let mut batch = Batch::default();
    let linger = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(linger);
    let mut lingered = false;
    let mut started = tokio::time::Instant::now();
    let mut flood = false;
    loop {
        let ready = !batch.is_empty() && (lingered || batch.is_full());
        tokio::select! {
            m = messages.next(), if !batch.is_full() => match m {
                Some(msg) => {
                    if let Some(delivered_now) = Delivered::from_jetstream(msg) {
                        if delivered_now.consumer_seq != *delivered + 1 {
                            warn!(
                                after = *delivered,
                                got = delivered_now.consumer_seq,
                                "a delivery was lost on the way; reading again after what the file holds"
                            );
                            return Flow::Recreate;
                        }
                        *delivered = delivered_now.consumer_seq;
                        let delivered = delivered_now;
                        if batch.is_empty() {
                            started = tokio::time::Instant::now();
                            linger.as_mut().reset(started + BATCH_LINGER);
                            lingered = false;
                            flood = false;
                        }
                        batch.pending = delivered.pending;
                        batch.push(delivered.message);
                    }
                }
                // What the batch holds is delivered again to the new
                // consumer, which starts after the file.
                None => return Flow::Recreate,
            },
            () = &mut linger, if !batch.is_empty() && !lingered => {
                if !flood && batch.len() >= FLOOD_START {
                    flood = true;
                    linger.as_mut().reset(started + FLOOD_LINGER);
                } else {
                    lingered = true;
                }
            }
            permit = tx.reserve(), if ready => match permit {
                Ok(permit) => permit.send(std::mem::take(&mut batch)),
                Err(_) => return Flow::Stop,
            },
            _ = prune.tick() => prune_rejected(js, store).await,
            () = tx.closed() => return Flow::Stop,
            () = shutdown.cancelled() => return Flow::Stop,
        }
    }
}

/// Drops the rejected rows whose sequences the stream no longer holds (see
/// the store's digest notes). Failures only delay it to the next round.
async fn prune_rejected(js: &jetstream::Context, store: &Arc<Store>) {
    let first = match js.get_stream(EVENTS_STREAM).await {
        Ok(mut stream) => match stream.info().await {
            Ok(info) => info.state.first_sequence,
            Err(_) => return,
        },
        Err(_) => return,
    };
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.prune_rejected(first)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => info!(
            pruned = n,
            below = first,
            "pruned rejected rows that left the stream"
        ),
        Ok(Err(e)) => warn!(error = %e, "pruning rejected rows failed"),
        Err(e) => warn!(error = %e, "pruning rejected rows failed"),
    }
}

/// Deletes this node's consumer (whatever position it had) and creates it
/// again right after what the file has applied.
pub(crate) async fn recreate_consumer(
    js: &jetstream::Context,
    node: &str,
    applied: u64,
    idle: Duration,
) -> anyhow::Result<Consumer<pull::Config>> {
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let name = projector_consumer_name(node);
    // Missing is fine; anything else shows up in the create below.
    let _ = stream.delete_consumer(&name).await;
    let consumer = stream
        .create_consumer(projector_consumer(node, applied, idle))
        .await?;
    Ok(consumer)
}
