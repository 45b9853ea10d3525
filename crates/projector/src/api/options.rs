//! What a client may cost the node ([`ApiOptions`]): the knobs of the
//! API's limits, kept apart from the code that enforces them.

use std::time::Duration;

use crate::store::SearchBudget;

use super::auth::ApiToken;

/// How much a client may cost the node. The defaults suit a node on a
/// small machine; tests shrink them to reach them quickly.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Every request must carry `Authorization: Bearer <token>`.
    pub token: Option<ApiToken>,
    /// Threads for the reads of pages and entries (see [`crate::api::reads`]).
    /// Each thread that allocates keeps a malloc arena of its own: few
    /// threads keep a node's memory bounded (a search for one common
    /// character reads tens of megabytes of postings; docs/BENCHMARKS.md,
    /// "Projector", has the peaks measured).
    pub read_threads: usize,
    /// Requests of pages and entries in flight at once; past it they are
    /// refused at once with 503 (load shedding), never queued.
    pub heavy_requests: usize,
    /// Requests of status and metrics in flight at once, counted apart
    /// from the heavy ones, so that a node busy searching still answers
    /// them.
    pub light_requests: usize,
    /// The longest a request may take before it is answered 503.
    pub timeout: Duration,
    /// The most JSON a list answer holds: it stops before and gives a
    /// cursor for the rest (its first item always goes).
    pub max_bytes: usize,
    /// The most candidate entries a search checks, and the longest it
    /// runs; past either the answer is `partial`, with a cursor to go on.
    pub search_budget: SearchBudget,
    /// `/readyz` answers ready only while the replica is at most this many
    /// stream sequences behind the stream's last.
    pub ready_max_lag: u64,
}

impl Default for ApiOptions {
    fn default() -> ApiOptions {
        ApiOptions {
            token: None,
            read_threads: 2,
            heavy_requests: 8,
            light_requests: 64,
            timeout: Duration::from_secs(5),
            max_bytes: 4 * 1024 * 1024,
            search_budget: SearchBudget::default(),
            ready_max_lag: 1000,
        }
    }
}
