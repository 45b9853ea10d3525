//! Replication: this node's position in `PAGEFEED_EVENTS` is a durable
//! consumer named `projector-<node>` (so `nats consumer report
//! PAGEFEED_EVENTS` shows every replica and its lag), but the redb file is
//! the authority: at every (re)start the consumer is re-created from the
//! file's applied sequence + 1 (the consumer itself is defined with the
//! rest of the topology, in `pagefeed_events::streams`). Events are applied
//! in batches on the node's apply thread while the next batch gathers, the
//! applied sequence committing with them. Batches and pull requests are
//! bounded by bytes as well as by count ([`crate::batch`]), so a node holds
//! a few of them at most, whatever the stream holds. A node that stops for
//! good disappears from NATS after `idle` (the consumer's inactive
//! threshold).

use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::pull;
use futures::StreamExt as _;
use pagefeed_events::streams::{projector_consumer, projector_consumer_name};
use pagefeed_events::subject::EVENTS_STREAM;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::batch::{pull_bytes, Batch, Delivered, MAX_BATCH};
use crate::store::{ApplyStats, Store, StoreError};
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
/// Errors in a row from the message stream before the consumer is re-created
/// (after a reconnect a vanished consumer errors forever: nats.rs #1584).
const ERRORS_BEFORE_RECREATE: u32 = 3;
/// How often rejected rows whose sequences have left the stream are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What one committed batch did, for the API's status and metrics.
#[derive(Debug, Clone, Copy)]
pub struct BatchReport {
    pub stats: ApplyStats,
    /// The sequence applied last.
    pub applied_seq: u64,
    /// Messages of the stream after it, as the server reported with the
    /// last message (the lag).
    pub pending: u64,
    pub commit: Duration,
}

/// Replays `PAGEFEED_EVENTS` into `store` until `shutdown`, healing by itself
/// after disconnects and server restarts.
pub async fn replicate(
    js: jetstream::Context,
    store: Arc<Store>,
    node: String,
    idle: Duration,
    shutdown: CancellationToken,
    on_batch: impl Fn(BatchReport) + Send + Sync,
) -> anyhow::Result<()> {
    let applier = Applier::start(store.clone())?;
    let mut delay = Duration::from_millis(100);
    'consumer: while !shutdown.is_cancelled() {
        let applied = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.applied_seq()).await??
        };
        let consumer = tokio::select! {
            c = recreate_consumer(&js, &node, applied, idle) => c,
            () = shutdown.cancelled() => break,
        };
        let consumer = match consumer {
            Ok(consumer) => consumer,
            Err(e) => {
                warn!(error = %e, "cannot set up this node's consumer; retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => break,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(MAX_BATCH)
            .max_bytes_per_batch(pull_bytes(js.client().server_info().max_payload))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot pull events; retrying");
                continue;
            }
        };
        info!(node = %node, from = applied + 1, "replicating");
        delay = Duration::from_millis(100);
        // The next batch gathers while the last one is applied.
        let (tx, mut rx) = mpsc::channel::<Batch>(1);
        let read = async {
            let next = gather(&mut messages, &tx, &js, &store, &shutdown).await;
            drop(tx);
            next
        };
        let applying = async {
            while let Some(batch) = rx.recv().await {
                let report = apply(&applier, batch).await?;
                on_batch(report);
            }
            Ok::<(), anyhow::Error>(())
        };
        let (next, applied) = tokio::join!(read, applying);
        applied?;
        match next {
            Next::Recreate => continue 'consumer,
            Next::Stop => break 'consumer,
        }
    }
    Ok(())
}

/// Why [`gather`] stopped.
enum Next {
    /// The message stream failed or ended: re-create the consumer.
    Recreate,
    /// Shutdown, or the applier stopped (its error is what counts).
    Stop,
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
async fn gather(
    messages: &mut pull::Stream,
    tx: &mpsc::Sender<Batch>,
    js: &jetstream::Context,
    store: &Arc<Store>,
    shutdown: &CancellationToken,
) -> Next {
    let mut errors = 0;
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
                Some(Ok(msg)) => {
                    errors = 0;
                    if let Some(delivered) = Delivered::from_jetstream(msg) {
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
                Some(Err(e)) => {
                    errors += 1;
                    warn!(error = %e, errors, "pulling events failed");
                    if errors >= ERRORS_BEFORE_RECREATE {
                        // What the batch holds is delivered again to the
                        // new consumer, which starts after the file.
                        return Next::Recreate;
                    }
                }
                None => return Next::Recreate,
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
                Err(_) => return Next::Stop,
            },
            _ = prune.tick() => prune_rejected(js, store).await,
            () = tx.closed() => return Next::Stop,
            () = shutdown.cancelled() => return Next::Stop,
        }
    }
}

/// One thread applies every batch of a node (redb is synchronous). One
/// thread rather than the blocking pool: each pool thread that ran a batch
/// kept that batch's memory in its own allocator arena, which made a node's
/// resident memory several batches' worth larger.
struct Applier {
    jobs: std::sync::mpsc::Sender<ApplyJob>,
}

type ApplyJob = (
    Batch,
    oneshot::Sender<Result<(ApplyStats, u64), StoreError>>,
);

impl Applier {
    /// Starts the thread; it ends when the `Applier` is dropped.
    fn start(store: Arc<Store>) -> std::io::Result<Applier> {
        let (jobs, queue) = std::sync::mpsc::channel::<ApplyJob>();
        std::thread::Builder::new()
            .name("projector-apply".to_owned())
            .spawn(move || {
                let mut unsynced = false;
                loop {
                    // A quiet stream's last batches are synced once it has
                    // been quiet for as long as a batch may stay unsynced.
                    let (batch, reply) = match queue.recv_timeout(store.sync_every()) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => {
                            if std::mem::take(&mut unsynced) {
                                if let Err(e) = store.sync() {
                                    warn!(error = %e, "could not sync the store");
                                }
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    let result = store
                        .apply_batch(&batch.logged())
                        .and_then(|stats| Ok((stats, store.applied_seq()?)));
                    unsynced = true;
                    let _ = reply.send(result);
                }
            })?;
        Ok(Applier { jobs })
    }

    async fn apply(&self, batch: Batch) -> anyhow::Result<(ApplyStats, u64)> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((batch, reply))
            .map_err(|_| anyhow::anyhow!("the apply thread stopped"))?;
        let result = answer
            .await
            .map_err(|_| anyhow::anyhow!("the apply thread stopped"))?;
        Ok(result?)
    }
}

/// Applies one batch on the node's apply thread.
async fn apply(applier: &Applier, batch: Batch) -> anyhow::Result<BatchReport> {
    let started = Instant::now();
    let pending = batch.pending;
    let (stats, applied_seq) = applier.apply(batch).await?;
    Ok(BatchReport {
        stats,
        applied_seq,
        pending,
        commit: started.elapsed(),
    })
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
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let name = projector_consumer_name(node);
    // Missing is fine; anything else shows up in the create below.
    let _ = stream.delete_consumer(&name).await;
    let consumer = stream
        .create_consumer(projector_consumer(node, applied, idle))
        .await?;
    Ok(consumer)
}
