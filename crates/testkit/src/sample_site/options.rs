//! The sample site's knobs and its clock.

use super::*;

/// Knobs of the sample site.
#[derive(Clone, Debug)]
pub struct SampleSiteOptions {
    /// Added before each page response (`/recent_page_feed`, `/view_entry`).
    pub latency: Duration,
    /// The pause inside the body of a [`PageKind::SlowBody`] page.
    pub slow_body: Duration,
    /// Mean time between two new entries of a page; each page's own period is
    /// this scaled deterministically into [0.5, 1.5] × (see [`posting_period`]).
    pub entry_period: Duration,
    /// Where "now" comes from.
    pub clock: Clock,
    /// Answers with `Connection: close`, so that no client keeps an idle
    /// connection open (a benchmark serving thousands of hosts from one
    /// process stays under its open-files limit).
    pub close_connections: bool,
}

impl Default for SampleSiteOptions {
    fn default() -> Self {
        SampleSiteOptions {
            latency: Duration::ZERO,
            slow_body: Duration::from_secs(10),
            entry_period: Duration::from_secs(600),
            clock: Clock::System,
            close_connections: false,
        }
    }
}

impl SampleSiteOptions {
    /// The defaults, with a [`Clock::Manual`] stopped at `now_unix`: the
    /// entries a page shows are then known exactly.
    pub fn at(now_unix: i64) -> SampleSiteOptions {
        SampleSiteOptions {
            clock: Clock::Manual(Arc::new(AtomicI64::new(now_unix))),
            ..SampleSiteOptions::default()
        }
    }
}

/// The time source of the site, in unix seconds.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock a test sets and advances by hand, so that new entries appear
    /// exactly when it wants them to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The current time, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}
