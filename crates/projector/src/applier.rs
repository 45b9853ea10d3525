//! The batch applier: the one thread that applies a node's batches to its
//! store (redb is synchronous), each in one write transaction that records
//! rejected events and commits the applied sequence. Live replication and
//! `rebuild` both feed it; `rebuild` has its batches decoded beforehand by a
//! [`Preparer`], on a thread of its own, so that the apply thread only
//! writes.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::batch::Batch;
use crate::store::{ApplyStats, Prepared, Store, StoreError};

/// What one committed batch did.
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

/// One thread applies every batch of a store. One thread rather than the
/// blocking pool: each pool thread that ran a batch kept that batch's memory
/// in its own allocator arena, which made a node's resident memory several
/// batches' worth larger.
pub struct Applier {
    jobs: std::sync::mpsc::Sender<ApplyJob>,
    thread: std::thread::JoinHandle<()>,
}

type ApplyJob = (Job, oneshot::Sender<Result<(ApplyStats, u64), StoreError>>);

/// A batch for the apply thread: as read, or already prepared.
enum Job {
    Read(Batch),
    Prepared(Prepared),
}

/// A batch [`Store::prepare`]d by a [`Preparer`], with the lag read with it.
#[derive(Debug)]
pub struct PreparedBatch {
    pub prepared: Prepared,
    /// Messages of the stream after its last one (see [`Batch::pending`]).
    pub pending: u64,
}

impl Applier {
    /// Starts the thread; it ends when the `Applier` is dropped. A quiet
    /// store's last batches are synced once it has been quiet for as long
    /// as a batch may stay unsynced.
    pub fn start(store: Arc<Store>) -> std::io::Result<Applier> {
        let (jobs, queue) = std::sync::mpsc::channel::<ApplyJob>();
        let thread = std::thread::Builder::new()
            .name("projector-apply".to_owned())
            .spawn(move || {
                let mut unsynced = false;
                loop {
                    let (job, reply) = match queue.recv_timeout(store.sync_every()) {
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
                    let applied = match &job {
                        Job::Read(batch) => store.apply_batch(&batch.logged()),
                        Job::Prepared(prepared) => store.apply_prepared(prepared),
                    };
                    let result = applied.and_then(|stats| Ok((stats, store.applied_seq()?)));
                    unsynced = true;
                    let _ = reply.send(result);
                }
            })?;
        Ok(Applier { jobs, thread })
    }

    /// Stops the thread and waits until it has ended, so that its handle on
    /// the store is dropped when this returns.
    pub async fn stop(self) {
        let Applier { jobs, thread } = self;
        drop(jobs);
        if tokio::task::spawn_blocking(move || thread.join())
            .await
            .is_err()
        {
            warn!("the apply thread panicked");
        }
    }

    /// Applies one batch and commits it with its last sequence.
    pub async fn apply(&self, batch: Batch) -> anyhow::Result<BatchReport> {
        let pending = batch.pending;
        self.run(Job::Read(batch), pending).await
    }

    async fn run(&self, job: Job, pending: u64) -> anyhow::Result<BatchReport> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((job, reply))
            .map_err(|_| anyhow::anyhow!("the apply thread stopped"))?;
        let (stats, applied_seq) = answer
            .await
            .map_err(|_| anyhow::anyhow!("the apply thread stopped"))??;
        Ok(BatchReport {
            stats,
            applied_seq,
            pending,
            commit: started.elapsed(),
        })
    }

    /// Applies every batch `batches` brings, in order, reporting each one
    /// once committed, until the sender is dropped or a batch fails.
    pub async fn apply_all(
        &self,
        batches: &mut mpsc::Receiver<Batch>,
        mut on_batch: impl FnMut(BatchReport),
    ) -> anyhow::Result<()> {
        while let Some(batch) = batches.recv().await {
            on_batch(self.apply(batch).await?);
        }
        Ok(())
    }

    /// As [`Applier::apply_all`], for batches a [`Preparer`] prepared.
    pub async fn apply_all_prepared(
        &self,
        batches: &mut mpsc::Receiver<PreparedBatch>,
        mut on_batch: impl FnMut(BatchReport),
    ) -> anyhow::Result<()> {
        while let Some(PreparedBatch { prepared, pending }) = batches.recv().await {
            on_batch(self.run(Job::Prepared(prepared), pending).await?);
        }
        Ok(())
    }
}

/// A thread that prepares batches ([`Store::prepare`]: decoding, checking,
/// an entry's row, hash and search grams) ahead of the apply thread, in
/// order: on a machine with a core to spare, applying then costs the apply
/// thread only its writes.
pub struct Preparer {
    thread: std::thread::JoinHandle<()>,
}

impl Preparer {
    /// Prepares every batch `batches` brings and hands it on to `prepared`,
    /// until `batches` ends or `prepared` is closed.
    pub fn start(
        store: Arc<Store>,
        mut batches: mpsc::Receiver<Batch>,
        prepared: mpsc::Sender<PreparedBatch>,
    ) -> std::io::Result<Preparer> {
        let thread = std::thread::Builder::new()
            .name("projector-prepare".to_owned())
            .spawn(move || {
                while let Some(batch) = batches.blocking_recv() {
                    let next = PreparedBatch {
                        prepared: store.prepare(&batch.logged()),
                        pending: batch.pending,
                    };
                    drop(batch);
                    if prepared.blocking_send(next).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Preparer { thread })
    }

    /// Waits until the thread has ended (its input ended or its output
    /// closed).
    pub async fn stop(self) {
        let thread = self.thread;
        if tokio::task::spawn_blocking(move || thread.join())
            .await
            .is_err()
        {
            warn!("the prepare thread panicked");
        }
    }
}
