//! `pagefeed-projector rebuild`: replays `PAGEFEED_EVENTS` from its first
//! retained sequence into a fresh file beside the node's, up to the last
//! sequence the stream had when the rebuild started, then swaps the fresh
//! file in and points the node's consumer right after it.
//!
//! Reading, decoding and applying overlap, as a pipeline: an ephemeral
//! consumer (no acks, re-created after a gap, as an ordered consumer is),
//! read through `pagefeed_events::consume`, feeds batches through a short
//! channel to a [`Preparer`] thread, which decodes them and computes what
//! needs no write transaction (rows, digest hashes, search grams), and
//! hands them to the [`crate::applier`] thread, which only writes: a
//! rebuild has the machine to itself, and the reading, the decoding and
//! redb each keep a core busy. Batches and pull requests are bounded by
//! bytes as well as by count ([`crate::batch`]): the rebuild holds at most
//! [`READ_AHEAD`] + 4 batches (one being read, one being prepared, one
//! prepared waiting, one being applied) and one and a half pull requests,
//! whatever the stream holds. (An ordered
//! consumer of async-nats pulls 500 messages at a time with no byte bound.)
//! Progress goes to the caller's [`RebuildOptions::progress`]: the library
//! prints nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull, Consumer};
use pagefeed_events::consume::{consume, Flow, Messages, Pull, Source};
use pagefeed_events::streams::{ensure_streams, events_replay_from, until_provisioned};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Config;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::applier::{Applier, PreparedBatch, Preparer};
use crate::batch::{pull_bytes, Batch, Delivered};
use crate::replicate::recreate_consumer;
use crate::{data_dir, open_store, store_path};

/// Batches read ahead of the one being applied.
const READ_AHEAD: usize = 2;
/// Messages a pull request asks for (besides its byte bound): reading is
/// faster than applying, so what is asked for waits in the client: 10,000
/// (as live) raised a rebuild's peak memory (docs/BENCHMARKS.md, "Bounded
/// events").
const PULL_MESSAGES: usize = 1_000;
/// The server's heartbeat while a pull request waits: two missed, and the
/// consumer is re-created (a server restart takes it away, silently).
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Attempts in a row to read the stream that read nothing (the consumer
/// could not be created, or failed at once), a back-off apart (from 0.1 s,
/// doubling, to under 5 s: about two minutes in all), before the rebuild
/// gives up.
const CREATE_ATTEMPTS: u32 = 30;
/// The longest an attempt to create the consumer may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(2);
/// With nothing delivered for this long, the consumer is re-created if the
/// stream still holds events up to the target (a server restart took the
/// consumer away); if it does not (they aged out during the rebuild), or
/// after [`IDLE_ROUNDS`] such rounds in a row, the rebuild ends there and
/// the node catches up from its file when it runs.
const IDLE_END: Duration = Duration::from_secs(10);
const IDLE_ROUNDS: u32 = 6;

/// What a rebuild is asked to do.
pub struct RebuildOptions {
    pub cfg: Config,
    pub data: PathBuf,
    pub node: String,
    /// The idle time of the node's consumer, re-created at the end.
    pub idle: Duration,
    /// Told where the rebuild stands: once before the first batch (`done`
    /// 0), after each batch applied, and once more with `finished` when the
    /// reading ends (completed or interrupted). Called on the rebuild's own
    /// task: it should be quick. `Box::new(|_| {})` for none.
    pub progress: Box<dyn FnMut(Progress) + Send>,
}

/// Where a rebuild stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Sequences of the stream applied, of `total` (from the stream's first
    /// sequence to the target).
    pub done: u64,
    pub total: u64,
    /// Since applying started.
    pub elapsed: Duration,
    /// The last report: nothing more is applied.
    pub finished: bool,
}

/// What a finished rebuild did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The stream's first and last sequence when the rebuild started.
    pub first_seq: u64,
    pub target_seq: u64,
    /// The sequence the new file has applied.
    pub applied_seq: u64,
    /// Events delivered and applied (or rejected).
    pub events: u64,
    pub elapsed: Duration,
    pub digest: String,
}

impl Rebuilt {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The fresh file a rebuild writes before it replaces the node's.
fn rebuild_path(data: &Path) -> PathBuf {
    data.join("pagefeed.redb.rebuild")
}

/// Rebuilds the node's file from the stream. `Ok(None)` when `shutdown`
/// came first: the node's file is then left as it was.
pub async fn rebuild(
    options: RebuildOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<Rebuilt>> {
    data_dir(&options.data)?;
    let path = store_path(&options.data);
    // Holding the node's file locks out a projector running on it (and one
    // starting) until the fresh file has replaced it.
    let current = if path.exists() {
        Some(open_store(&path).await.with_context(|| {
            format!(
                "is a projector running on {}? stop it before rebuilding",
                options.data.display()
            )
        })?)
    } else {
        None
    };
    let fresh_path = rebuild_path(&options.data);
    if fresh_path.exists() {
        std::fs::remove_file(&fresh_path)
            .with_context(|| format!("cannot delete {}", fresh_path.display()))?;
    }
    let fresh = open_store(&fresh_path).await?;

    let client = pagefeed_events::connect(
        &options.cfg.nats,
        &format!("pagefeed-projector-rebuild-{}", options.node),
    )
    .await?;
    let js = jetstream::new(client.clone());
    if until_provisioned(&shutdown, || ensure_streams(&js, &options.cfg))
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let mut stream = js.get_stream(EVENTS_STREAM).await?;
    let state = stream.info().await?.state.clone();
    let (first_seq, target_seq) = (state.first_sequence, state.last_sequence);
    info!(
        node = %options.node,
        first = first_seq,
        target = target_seq,
        messages = state.messages,
        "rebuilding"
    );

    let started = Instant::now();
    let (tx, read_rx) = mpsc::channel::<Batch>(READ_AHEAD);
    let (prepared_tx, prepared_rx) = mpsc::channel::<PreparedBatch>(1);
    let total = target_seq.saturating_sub(first_seq.saturating_sub(1));
    let fresh = Arc::new(fresh);
    let applier = Applier::start(fresh.clone())?;
    let preparer = Preparer::start(fresh.clone(), read_rx, prepared_tx)?;
    let mut progress = options.progress;
    let mut at = Progress {
        done: 0,
        total,
        elapsed: Duration::ZERO,
        finished: false,
    };
    progress(at);
    let mut events = 0u64;
    // The receiver goes with the applying: once the applier stops (a
    // failed commit), the preparer and then the reading stop too.
    let applying = async {
        let mut prepared_rx = prepared_rx;
        applier
            .apply_all_prepared(&mut prepared_rx, |report| {
                events += (report.stats.applied + report.stats.rejected) as u64;
                at.done = report.applied_seq.saturating_sub(first_seq) + 1;
                at.elapsed = started.elapsed();
                progress(at);
            })
            .await
    };
    let read = async {
        if state.messages == 0 {
            drop(tx);
            Ok(true)
        } else {
            let pull = pull_bytes(client.server_info().max_payload);
            read_until(&stream, pull, target_seq, tx, &shutdown).await
        }
    };
    let (applied, read) = tokio::join!(applying, read);
    // The preparer has ended (its input closed) or ends (its output closed).
    preparer.stop().await;
    applier.stop().await;
    applied?;
    at.elapsed = started.elapsed();
    at.finished = true;
    progress(at);
    let completed = read?;
    if !completed {
        drop(fresh);
        let _ = std::fs::remove_file(&fresh_path);
        pagefeed_events::close(&client).await;
        return Ok(None);
    }
    let elapsed = started.elapsed();
    // Synced before the swap (closing would sync it too, but an error there
    // would only be logged).
    let (applied_seq, digest) = tokio::task::spawn_blocking(move || {
        fresh.sync()?;
        fresh.digest()
    })
    .await??;

    // Swap: the fresh file replaces the node's, which is closed first.
    drop(current);
    std::fs::rename(&fresh_path, &path)
        .with_context(|| format!("cannot move {} to {}", fresh_path.display(), path.display()))?;
    std::fs::File::open(&options.data)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot sync {}", options.data.display()))?;
    recreate_consumer(&js, &options.node, applied_seq, options.idle)
        .await
        .context("the file is rebuilt, but this node's consumer could not be re-created (the projector re-creates it when it starts)")?;
    pagefeed_events::close(&client).await;
    Ok(Some(Rebuilt {
        first_seq,
        target_seq,
        applied_seq,
        events,
        elapsed,
        digest,
    }))
}

/// Reads the stream from its start and sends batches until `target` has
/// been sent, with pull requests of `pull` bytes. The consumer is
/// re-created right after the last message read when a delivery is lost (a
/// gap in the consumer's sequence), or the message stream fails (as an
/// ordered consumer re-creates itself) or ends.
/// `Ok(false)` if `shutdown` came first.
async fn read_until(
    stream: &jetstream::stream::Stream,
    pull: usize,
    target: u64,
    tx: mpsc::Sender<Batch>,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut replay = Replay {
        stream: stream.clone(),
        pull,
        target,
        last: 0,
        consumer_name: None,
        idle_rounds: 0,
        batch: Batch::default(),
        tx,
        shutdown: shutdown.clone(),
        completed: false,
    };
    let outcome = consume(&mut replay, shutdown).await;
    if let Some(name) = replay.consumer_name.take() {
        let _ = stream.delete_consumer(&name).await;
    }
    outcome?;
    if replay.completed && !replay.batch.is_empty() {
        let _ = replay.tx.send(std::mem::take(&mut replay.batch)).await;
    }
    Ok(replay.completed)
}

/// A replay of the stream up to `target`, in batches.
struct Replay {
    stream: jetstream::stream::Stream,
    /// The bytes a pull request asks for.
    pull: usize,
    target: u64,
    /// The last sequence read: a consumer is created right after it.
    last: u64,
    consumer_name: Option<String>,
    /// Waits in a row of [`IDLE_END`] with nothing delivered.
    idle_rounds: u32,
    batch: Batch,
    tx: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
    /// Whether everything up to the target was read (or had left the
    /// stream), rather than cut short by shutdown.
    completed: bool,
}

impl Source for Replay {
    const WHAT: &'static str = "replay";

    fn pull(&self) -> Pull {
        Pull {
            max_bytes: Some(self.pull),
            heartbeat: HEARTBEAT,
            expires: None,
            // A request sent just as the connection dropped is never
            // answered: a short wait, and the next attempt goes on the new
            // connection.
            open_timeout: Some(CREATE_TIMEOUT),
            give_up_after: Some(CREATE_ATTEMPTS),
            ..Pull::new(PULL_MESSAGES)
        }
    }

    async fn consumer(&mut self) -> anyhow::Result<Consumer<pull::Config>> {
        if let Some(name) = self.consumer_name.take() {
            // Unused consumers go by themselves; this is only sooner, and
            // off the read (after a reconnect the request may go unanswered
            // until it times out).
            let stream = self.stream.clone();
            tokio::spawn(async move {
                let _ = stream.delete_consumer(&name).await;
            });
        }
        let consumer = self
            .stream
            .create_consumer(events_replay_from(self.last + 1))
            .await?;
        self.consumer_name = Some(consumer.cached_info().name.clone());
        Ok(consumer)
    }

    async fn read(&mut self, messages: &mut Messages) -> anyhow::Result<Flow> {
        let (last, target) = (&mut self.last, self.target);
        let mut delivered = 0u64;
        loop {
            let next = tokio::select! {
                m = tokio::time::timeout(IDLE_END, messages.next()) => m,
                () = self.shutdown.cancelled() => return Ok(Flow::Stop),
            };
            let msg = match next {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    // The consumer is gone, or no server answers, or it
                    // missed heartbeats, or its messages ended: a new one
                    // right after the last event read.
                    warn!(from = *last + 1, "reading the stream failed; reading again");
                    return Ok(Flow::Recreate);
                }
                Err(_) => {
                    self.idle_rounds += 1;
                    let holds_more = match self.stream.get_info().await {
                        Ok(info) => {
                            info.state.messages > 0
                                && info.state.first_sequence <= target
                                && info.state.last_sequence > *last
                        }
                        // No answer: try a new consumer (retried if need be).
                        Err(_) => true,
                    };
                    if holds_more && self.idle_rounds < IDLE_ROUNDS {
                        warn!(
                            from = *last + 1,
                            "nothing was delivered for {IDLE_END:?}, though the stream holds more \
                             up to the target; reading again"
                        );
                        return Ok(Flow::Recreate);
                    }
                    warn!(
                        target,
                        "nothing more was delivered for {IDLE_END:?}: the rest up to the target \
                         has left the stream; the node catches up from here when it runs"
                    );
                    self.completed = true;
                    return Ok(Flow::Stop);
                }
            };
            self.idle_rounds = 0;
            let Some(d) = Delivered::from_jetstream(msg) else {
                warn!("a message without JetStream metadata; skipped");
                continue;
            };
            if d.consumer_seq != delivered + 1 {
                warn!(
                    from = *last + 1,
                    "a delivery was lost (consumer sequence {} after {delivered}); reading again",
                    d.consumer_seq
                );
                return Ok(Flow::Recreate);
            }
            delivered = d.consumer_seq;
            let seq = d.message.seq;
            if seq > target {
                self.completed = true;
                return Ok(Flow::Stop);
            }
            if seq <= *last {
                continue;
            }
            *last = seq;
            self.batch.push(d.message);
            if seq == target {
                self.completed = true;
                return Ok(Flow::Stop);
            }
            if self.batch.is_full() && self.tx.send(std::mem::take(&mut self.batch)).await.is_err()
            {
                // The applier stopped: its error is what the caller reports.
                self.completed = true;
                return Ok(Flow::Stop);
            }
        }
    }
}
