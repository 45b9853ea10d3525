//! The projector: replays `PAGEFEED_EVENTS` into a local redb file and serves
//! reads of it. [`store`] owns the tables and the whole apply logic, so that
//! the replica is a function of the log (design invariants 1–4).

pub mod api;
pub mod applier;
pub mod batch;
pub mod feeds;
pub mod rebuild;
pub mod replicate;
pub mod store;
mod web;
pub mod zones;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use pagefeed_events::streams::{ensure_streams, until_provisioned};
use pagefeed_events::Config;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{ApiOptions, ApiState, Live};
use crate::replicate::{replicate, Progress};
use crate::store::{Store, StoreError};
use crate::zones::Zones;

/// Where and as whom a projector runs.
pub struct Options {
    pub cfg: Config,
    /// Directory of the redb file (created if missing).
    pub data: PathBuf,
    /// `[a-z0-9_-]+`; the consumer is `projector-<node>`.
    pub node: String,
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    /// After this long without this node, NATS removes its consumer.
    pub idle: Duration,
    /// The longest a committed batch stays unsynced to disk (see
    /// [`Store::apply_batch`]).
    pub sync_every: Duration,
    /// What the HTTP API lets a client cost, and its token.
    pub api: ApiOptions,
}

/// The redb file in a data directory.
pub fn store_path(data: &Path) -> PathBuf {
    data.join("pagefeed.redb")
}

/// Makes sure `data` is a directory, creating it if missing; says so
/// plainly when it is something else.
pub fn data_dir(data: &Path) -> anyhow::Result<()> {
    if data.exists() && !data.is_dir() {
        anyhow::bail!(
            "--data {}: not a directory (a projector keeps its file, {}, in a directory)",
            data.display(),
            store_path(Path::new("DIR")).display()
        );
    }
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))
}

/// Opens (or creates) the store at `path`. A file of an older schema is a
/// replica like any other: it is deleted and rebuilt from the stream rather
/// than migrated.
pub async fn open_store(path: &Path) -> anyhow::Result<Store> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || match Store::open(&path) {
        Err(StoreError::OlderSchema { found, supported }) => {
            warn!(
                file = %path.display(),
                found,
                supported,
                "the store has an older layout: deleting it to rebuild it from the stream"
            );
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot delete {}", path.display()))?;
            Store::open(&path).with_context(|| format!("cannot open {}", path.display()))
        }
        other => other.with_context(|| format!("cannot open {}", path.display())),
    })
    .await?
}

/// Replicates and serves until `shutdown`.
pub async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    // The port first: a projector that cannot serve leaves no file behind.
    let listener = tokio::net::TcpListener::bind(options.http)
        .await
        .with_context(|| format!("cannot listen on {}", options.http))?;
    data_dir(&options.data)?;
    let path = store_path(&options.data);
    let mut store = open_store(&path).await?;
    store.set_sync_every(options.sync_every);
    let store = Arc::new(store);
    info!(node = %options.node, data = %path.display(), http = %listener.local_addr()?, "projector started");

    let client = pagefeed_events::connect(
        &options.cfg.nats,
        &format!("pagefeed-projector-{}", options.node),
    )
    .await?;
    let js = jetstream::new(client.clone());
    let live = Arc::new(Live::new(options.node.clone()));
    let republish = Arc::new(Notify::new());
    publish_status(&store, &live).await?;
    let publisher = tokio::spawn(publish_after_commits(
        store.clone(),
        live.clone(),
        republish.clone(),
        shutdown.clone(),
    ));
    let state = ApiState::new(store.clone(), live.clone(), options.api)
        .context("cannot start the API's read threads")?
        .with_zones(Arc::new(Zones::new(&options.cfg)));
    let api = tokio::spawn(api::serve(listener, state, shutdown.clone()));
    let provisioned = until_provisioned(&shutdown, || ensure_streams(&js, &options.cfg)).await?;
    let outcome = if provisioned.is_some() {
        let live = live.clone();
        replicate(
            js,
            store.clone(),
            options.node.clone(),
            options.idle,
            shutdown.clone(),
            move |progress| match progress {
                Progress::Committed(report) => {
                    live.stream_last_seq
                        .store(report.applied_seq + report.pending, Ordering::Relaxed);
                    live.record_commit(report.commit, &report.stats);
                    live.resumed();
                    republish.notify_one();
                }
                Progress::Failed(e) => live.record_failed_commit(format!("{e:#}")),
                Progress::StillFailing(e) => live.still_stalled(format!("{e:#}")),
                Progress::Reopened => republish.notify_one(),
            },
        )
        .await
    } else {
        Ok(())
    };
    shutdown.cancel();
    publisher.await?;
    if let Err(e) = api.await? {
        warn!(error = %e, "the HTTP API stopped with an error");
    }
    pagefeed_events::close(&client).await;
    close(store).await;
    info!("projector stopped");
    outcome
}

/// Publishes the replica's applied sequence, digest and counts for the
/// status (an O(1) read, on the blocking pool the API does not use).
async fn publish_status(store: &Arc<Store>, live: &Arc<Live>) -> anyhow::Result<()> {
    let (store, live) = (store.clone(), live.clone());
    tokio::task::spawn_blocking(move || live.publish(&store)).await??;
    Ok(())
}

/// Publishes the status again after each commit (notified by the
/// replication loop; commits made while it reads coalesce into one more
/// read), until `shutdown`.
async fn publish_after_commits(
    store: Arc<Store>,
    live: Arc<Live>,
    committed: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = committed.notified() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = publish_status(&store, &live).await {
            warn!(error = %e, "cannot read the replica's status");
        }
    }
}

/// Closes the store once nothing else holds it, so that the file is closed
/// when [`run`] returns and can be opened again at once (redb allows one open
/// per file). The HTTP server returns before its connection tasks have
/// dropped their copy of the router, which holds the store: the last of them
/// would otherwise close the file, a little later, on its own thread.
async fn close(mut store: Arc<Store>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Arc::try_unwrap(store) {
            Ok(store) => {
                // Closing a redb file writes and syncs it: not on an async worker.
                if let Err(e) = tokio::task::spawn_blocking(move || drop(store)).await {
                    warn!(error = %e, "closing the store failed");
                }
                return;
            }
            Err(shared) if Instant::now() > deadline => {
                warn!(
                    handles = Arc::strong_count(&shared) - 1,
                    "the store is still in use 10 s after shutdown; not waiting any longer"
                );
                return;
            }
            Err(shared) => {
                store = shared;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// `digest --data DIR`: the applied sequence and the digest of the state,
/// after checking the digest kept by the writes against one summed from
/// every row (a difference means the file was damaged).
pub async fn checked_digest(data: &Path) -> anyhow::Result<(u64, String)> {
    let path = store_path(data);
    if data.exists() && !data.is_dir() {
        anyhow::bail!("--data {}: not a directory", data.display());
    }
    if !path.exists() {
        anyhow::bail!(
            "no projector data in {} (no {})",
            data.display(),
            path.display()
        );
    }
    let (kept, summed) = tokio::task::spawn_blocking(move || {
        let store = Store::open(&path)?;
        Ok::<_, StoreError>((store.digest()?, store.recompute_digest()?))
    })
    .await?
    .map_err(|e| match e {
        StoreError::InUse => anyhow::anyhow!(
            "{} is in use by the running projector of this node: stop it first, or read \
             the node's digest from its API (`curl -s http://ADDR/api/status`: applied_seq, \
             digest)",
            data.display()
        ),
        e => e.into(),
    })?;
    if summed.1 != kept.1 {
        anyhow::bail!(
            "the digest kept in {} ({}) differs from the rows' ({}): the file is damaged; \
             rebuild it with `pagefeed-projector rebuild`",
            data.display(),
            kept.1,
            summed.1
        );
    }
    Ok(kept)
}
