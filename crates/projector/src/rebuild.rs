//! `pagefeed-projector rebuild`: replays `PAGEFEED_EVENTS` from its first
//! retained sequence into a fresh file beside the node's, up to the last
//! sequence the stream had when the rebuild started, then swaps the fresh
//! file in and points the node's consumer right after it.
//!
//! Reading and applying overlap: an ephemeral consumer (no acks, re-created
//! after a gap, as an ordered consumer is) feeds batches through a short
//! channel to a blocking thread that applies them, so the network and redb
//! each keep a core busy. Batches and pull requests are bounded by bytes as
//! well as by count ([`crate::batch`]): the rebuild holds at most
//! [`READ_AHEAD`] + 2 batches and one and a half pull requests, whatever the
//! stream holds. (An ordered consumer of async-nats pulls 500 messages at a
//! time with no byte bound.)

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use pagefeed_events::streams::{ensure_streams, events_replay_from, until_provisioned};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Config;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::batch::{pull_bytes, Batch, Delivered};
use crate::replicate::recreate_consumer;
use crate::store::Store;
use crate::{open_store, store_path};

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
/// could not be created, or failed at once), 0.25 s, 0.5 s, … up to 5 s
/// apart (about 100 s in all), before the rebuild gives up.
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
/// How often plain progress lines are printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// What a rebuild is asked to do.
pub struct RebuildOptions {
    pub cfg: Config,
    pub data: PathBuf,
    pub node: String,
    /// The idle time of the node's consumer, re-created at the end.
    pub idle: Duration,
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
pub fn rebuild_path(data: &Path) -> PathBuf {
    data.join("pagefeed.redb.rebuild")
}

/// Rebuilds the node's file from the stream. `Ok(None)` when `shutdown`
/// came first: the node's file is then left as it was.
pub async fn rebuild(
    options: RebuildOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<Rebuilt>> {
    std::fs::create_dir_all(&options.data)
        .with_context(|| format!("cannot create {}", options.data.display()))?;
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
    let (tx, rx) = mpsc::channel::<Batch>(READ_AHEAD);
    let total = target_seq.saturating_sub(first_seq.saturating_sub(1));
    let applier = tokio::task::spawn_blocking(move || apply_all(fresh, rx, first_seq, total));
    let read = if state.messages == 0 {
        drop(tx);
        Ok(true)
    } else {
        let pull = pull_bytes(client.server_info().max_payload);
        read_until(&stream, pull, target_seq, tx, &shutdown).await
    };
    let (fresh, events) = applier.await??;
    let completed = read?;
    if !completed {
        drop(fresh);
        let _ = std::fs::remove_file(&fresh_path);
        let _ = client.drain().await;
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
    if let Err(e) = client.drain().await {
        warn!(error = %e, "draining the NATS connection failed");
    }
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
    let mut batch = Batch::default();
    // The last sequence read: a consumer is created right after it.
    let mut last = 0u64;
    let mut consumer_name: Option<String> = None;
    let mut failures = 0;
    let mut idle_rounds = 0;
    let completed = 'consumer: loop {
        // After attempts that read nothing, a pause, longer each time.
        if failures > 0 {
            if failures > CREATE_ATTEMPTS {
                anyhow::bail!(
                    "cannot read the stream: {CREATE_ATTEMPTS} attempts in a row read nothing"
                );
            }
            let delay = (Duration::from_millis(250) * failures).min(Duration::from_secs(5));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => break 'consumer false,
            }
        }
        if let Some(name) = consumer_name.take() {
            // Unused consumers go by themselves; this is only sooner, and
            // off the read (after a reconnect the request may go unanswered
            // until it times out).
            let stream = stream.clone();
            tokio::spawn(async move {
                let _ = stream.delete_consumer(&name).await;
            });
        }
        let created = async {
            let consumer = stream.create_consumer(events_replay_from(last + 1)).await?;
            let name = consumer.cached_info().name.clone();
            let messages = consumer
                .stream()
                .max_messages_per_batch(PULL_MESSAGES)
                .max_bytes_per_batch(pull)
                .heartbeat(HEARTBEAT)
                .messages()
                .await?;
            Ok::<_, anyhow::Error>((name, messages))
        };
        // A request sent just as the connection dropped is never answered:
        // a short wait, and the next attempt goes on the new connection.
        let created = match tokio::time::timeout(CREATE_TIMEOUT, created).await {
            Ok(created) => created,
            Err(_) => Err(anyhow::anyhow!("no answer within {CREATE_TIMEOUT:?}")),
        };
        let mut messages = match created {
            Ok((name, messages)) => {
                consumer_name = Some(name);
                messages
            }
            Err(e) => {
                failures += 1;
                warn!(error = %e, failures, "cannot read the stream; retrying");
                continue 'consumer;
            }
        };
        let mut delivered = 0u64;
        loop {
            let next = tokio::select! {
                m = tokio::time::timeout(IDLE_END, messages.next()) => m,
                () = shutdown.cancelled() => break 'consumer false,
            };
            let msg = match next {
                Ok(Some(Ok(msg))) => msg,
                Ok(Some(Err(e))) => {
                    // The consumer is gone, or no server answers, or it
                    // missed heartbeats: a new one right after the last
                    // event read.
                    warn!(error = %e, from = last + 1, "reading the stream failed; reading again");
                    failures += u32::from(delivered == 0);
                    continue 'consumer;
                }
                Ok(None) => {
                    warn!(from = last + 1, "the stream of events ended; reading again");
                    failures += u32::from(delivered == 0);
                    continue 'consumer;
                }
                Err(_) => {
                    idle_rounds += 1;
                    let holds_more = match stream.get_info().await {
                        Ok(info) => {
                            info.state.messages > 0
                                && info.state.first_sequence <= target
                                && info.state.last_sequence > last
                        }
                        // No answer: try a new consumer (retried if need be).
                        Err(_) => true,
                    };
                    if holds_more && idle_rounds < IDLE_ROUNDS {
                        warn!(
                            from = last + 1,
                            "nothing was delivered for {IDLE_END:?}, though the stream holds more \
                             up to the target; reading again"
                        );
                        continue 'consumer;
                    }
                    warn!(
                        target,
                        "nothing more was delivered for {IDLE_END:?}: the rest up to the target \
                         has left the stream; the node catches up from here when it runs"
                    );
                    break 'consumer true;
                }
            };
            idle_rounds = 0;
            failures = 0;
            let Some(d) = Delivered::from_jetstream(msg) else {
                warn!("a message without JetStream metadata; skipped");
                continue;
            };
            if d.consumer_seq != delivered + 1 {
                warn!(
                    from = last + 1,
                    "a delivery was lost (consumer sequence {} after {delivered}); reading again",
                    d.consumer_seq
                );
                continue 'consumer;
            }
            delivered = d.consumer_seq;
            let seq = d.message.seq;
            if seq > target {
                break 'consumer true;
            }
            if seq <= last {
                continue;
            }
            last = seq;
            batch.push(d.message);
            if seq == target {
                break 'consumer true;
            }
            if batch.is_full() && tx.send(std::mem::take(&mut batch)).await.is_err() {
                // The applier stopped: its error is what the caller reports.
                break 'consumer true;
            }
        }
    };
    if let Some(name) = consumer_name {
        let _ = stream.delete_consumer(&name).await;
    }
    if completed && !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    Ok(completed)
}

/// The applier thread: applies every batch it receives, drawing progress.
fn apply_all(
    store: Store,
    mut rx: mpsc::Receiver<Batch>,
    first_seq: u64,
    total: u64,
) -> anyhow::Result<(Store, u64)> {
    let mut progress = Progress::new(total);
    let mut events = 0u64;
    while let Some(batch) = rx.blocking_recv() {
        let stats = store.apply_batch(&batch.logged())?;
        events += (stats.applied + stats.rejected) as u64;
        if let Some(last) = batch.last_seq() {
            progress.at(last.saturating_sub(first_seq) + 1);
        }
    }
    progress.finish();
    Ok((store, events))
}

/// Rebuild progress: a bar with rate and ETA on a terminal, plain lines
/// every few seconds otherwise (logs, CI).
enum Progress {
    Bar(ProgressBar),
    Lines {
        total: u64,
        started: Instant,
        printed: Instant,
        pos: u64,
    },
}

impl Progress {
    fn new(total: u64) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "rebuild {bar:40} {human_pos}/{human_len} events  {per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            Progress::Bar(bar)
        } else {
            let now = Instant::now();
            Progress::Lines {
                total,
                started: now,
                printed: now,
                pos: 0,
            }
        }
    }

    fn at(&mut self, done: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(done),
            Progress::Lines {
                total,
                started,
                printed,
                pos,
            } => {
                *pos = done;
                if printed.elapsed() >= LINE_EVERY {
                    *printed = Instant::now();
                    eprintln!("{}", progress_line(done, *total, started.elapsed()));
                }
            }
        }
    }

    fn finish(&mut self) {
        match self {
            Progress::Bar(bar) => bar.finish(),
            Progress::Lines {
                total,
                started,
                pos,
                ..
            } => eprintln!("{}", progress_line(*pos, *total, started.elapsed())),
        }
    }
}

/// `rebuild: 512000/1000000 events (51%), 120000 events/s, ETA 4s`
fn progress_line(done: u64, total: u64, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let eta = if rate > 0.0 {
        let secs = total.saturating_sub(done) as f64 / rate;
        format!("{}s", secs.ceil() as u64)
    } else {
        "?".to_owned()
    };
    format!("rebuild: {done}/{total} events ({percent}%), {rate:.0} events/s, ETA {eta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_rate_and_eta() {
        let line = progress_line(500, 1000, Duration::from_secs(5));
        assert_eq!(line, "rebuild: 500/1000 events (50%), 100 events/s, ETA 5s");
        assert!(progress_line(0, 0, Duration::ZERO).contains("(100%)"));
    }
}
