//! Per-id request counters of a running site, sharded so handlers rarely
//! wait on one another.

use super::*;

pub(super) const SHARDS: usize = 16;

#[derive(Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) requests: u64,
    pub(super) not_modified: u64,
}

/// Per-id request counters of a running site, shared with its handlers
/// (cheap to clone).
#[derive(Clone)]
pub(super) struct SiteStats {
    shards: Arc<[Mutex<HashMap<u64, Counts>>; SHARDS]>,
}

impl Default for SiteStats {
    fn default() -> Self {
        SiteStats {
            shards: Arc::new(std::array::from_fn(|_| Mutex::default())),
        }
    }
}

impl std::fmt::Debug for SiteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteStats").finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A counter is still meaningful after a panic elsewhere: ignore poisoning.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SiteStats {
    pub(super) fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Counts>> {
        &self.shards[(mix64(id) % SHARDS as u64) as usize]
    }

    /// Counts one page request and returns how many there have been, this one included.
    pub(super) fn record_request(&self, id: u64) -> u64 {
        let mut shard = lock(self.shard(id));
        let counts = shard.entry(id).or_default();
        counts.requests += 1;
        counts.requests
    }

    pub(super) fn record_not_modified(&self, id: u64) {
        lock(self.shard(id)).entry(id).or_default().not_modified += 1;
    }

    pub(super) fn counts(&self, id: u64) -> Counts {
        lock(self.shard(id)).get(&id).copied().unwrap_or_default()
    }

    /// Page requests served for `id` so far, whatever their status.
    pub(super) fn requests(&self, id: u64) -> u64 {
        self.counts(id).requests
    }

    /// How many of the page requests for `id` were answered 304.
    pub(super) fn not_modified(&self, id: u64) -> u64 {
        self.counts(id).not_modified
    }

    /// What `/stats` shows, ids in order.
    pub(super) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for shard in self.shards.iter() {
            for (id, c) in lock(shard).iter() {
                snapshot.requests.insert(*id, c.requests);
                if c.not_modified > 0 {
                    snapshot.not_modified.insert(*id, c.not_modified);
                }
            }
        }
        snapshot
    }
}

/// The counters as `/stats` shows them:
/// `{"requests":{"42":3,...},"not_modified":{"42":1,...}}`, an id in
/// `not_modified` once it has been answered 304.
#[derive(Debug, Default, Serialize)]
pub(super) struct Snapshot {
    requests: BTreeMap<u64, u64>,
    not_modified: BTreeMap<u64, u64>,
}
