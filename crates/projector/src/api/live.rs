//! What the replication loop publishes for the status and metrics
//! ([`Live`]), so that they never read the file nor wait for a read thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use pagefeed_cli::Readiness;
use prometheus_client::metrics::histogram::Histogram;

use pagefeed_events::event::FETCH_FAILURE_REASONS;

use crate::store::{ApplyStats, Store, StoreError};

/// What `/api/status` and `/metrics` show of the replica, published by the
/// replication loop after each commit ([`Live::publish`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicaStatus {
    pub applied_seq: u64,
    pub digest: String,
    pub pages: u64,
    pub entries: u64,
    pub rejected: u64,
}

/// What the replication loop knows and the store does not: shared with the
/// API through an `Arc`.
#[derive(Debug)]
pub struct Live {
    pub node: String,
    /// The last sequence of `PAGEFEED_EVENTS` as last seen by this node.
    pub stream_last_seq: AtomicU64,
    /// Events applied (not rejected, not skipped) since this process started.
    pub(crate) events_applied: AtomicU64,
    /// How long the batches committed since this process started took.
    pub(crate) batch_commit: Histogram,
    /// The replica as of the last [`Live::publish`].
    replica: RwLock<ReplicaStatus>,
    /// Why applying is stalled (a commit failed, a full disk typically);
    /// `None` while it goes on.
    stalled: RwLock<Option<String>>,
    /// Commits that failed since this process started.
    pub(crate) failed_commits: AtomicU64,
    /// `fetch_failed` events applied since this process started, by
    /// [`FETCH_FAILURE_REASONS`] slot.
    pub(crate) fetch_failures: [AtomicU64; FETCH_FAILURE_REASONS.len()],
    /// NATS and the events stream, for `/readyz`.
    pub readiness: Readiness,
}

impl Live {
    pub fn new(node: impl Into<String>) -> Live {
        Live {
            node: node.into(),
            stream_last_seq: AtomicU64::new(0),
            events_applied: AtomicU64::new(0),
            batch_commit: crate::api::metrics::commit_time_histogram(),
            replica: RwLock::default(),
            stalled: RwLock::default(),
            failed_commits: AtomicU64::new(0),
            fetch_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            readiness: Readiness::default(),
        }
    }

    /// Events applied (and rejected) since this process started.
    pub fn events_applied(&self) -> u64 {
        self.events_applied.load(Ordering::Relaxed)
    }

    /// Stream sequences not yet applied, as last seen.
    pub fn lag(&self) -> u64 {
        self.stream_last_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.replica().applied_seq)
    }

    /// Applying stopped on a failed commit, for `why`.
    pub fn record_failed_commit(&self, why: impl Into<String>) {
        self.failed_commits.fetch_add(1, Ordering::Relaxed);
        self.set_stalled(Some(why.into()));
    }

    /// Applying is still stalled, now for `why` (the last attempt to resume).
    pub fn still_stalled(&self, why: impl Into<String>) {
        self.set_stalled(Some(why.into()));
    }

    /// Applying goes on again.
    pub fn resumed(&self) {
        self.set_stalled(None);
    }

    /// Why applying is stalled, if it is.
    pub fn stalled(&self) -> Option<String> {
        self.stalled
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_stalled(&self, why: Option<String>) {
        *self
            .stalled
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = why;
    }

    /// Records one committed batch that took `d` and applied what `stats` say.
    pub fn record_commit(&self, d: Duration, stats: &ApplyStats) {
        self.batch_commit.observe(d.as_secs_f64());
        let events = stats.applied + stats.rejected;
        self.events_applied
            .fetch_add(u64::try_from(events).unwrap_or(u64::MAX), Ordering::Relaxed);
        for (count, added) in self.fetch_failures.iter().zip(stats.fetch_failures) {
            count.fetch_add(u64::from(added), Ordering::Relaxed);
        }
    }

    /// Reads the replica's applied sequence, digest and counts (O(1), a
    /// blocking read) for the status to show.
    pub fn publish(&self, store: &Store) -> Result<(), StoreError> {
        let (applied_seq, digest) = store.digest()?;
        let counts = store.counts()?;
        let status = ReplicaStatus {
            applied_seq,
            digest,
            pages: counts.pages,
            entries: counts.entries,
            rejected: counts.rejected,
        };
        *self
            .replica
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
        Ok(())
    }

    /// The replica as last published.
    pub(crate) fn replica(&self) -> ReplicaStatus {
        self.replica
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
