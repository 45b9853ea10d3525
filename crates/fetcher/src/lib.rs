//! The fetcher: pulls crawl tasks from the shared `fetchers` consumer,
//! fetches each page over HTTP, decodes its charset, extracts title and
//! entries with the site's CSS selectors, and publishes what is news. Starting
//! another fetcher process, anywhere, is how the crawl scales.

pub mod crawl;
pub mod deadline;
pub mod decode;
pub mod extract;
pub mod extract_command;
pub mod failure;
pub mod fetch_state;
pub mod http;
pub mod metrics;
pub mod parse;
pub mod policy;
pub mod politeness;
pub mod robots;
pub mod tasks;

use std::sync::Arc;

use async_nats::jetstream;
use pagefeed_cli::Readiness;
use pagefeed_events::streams::{
    ensure_fetch_state, ensure_robots, ensure_streams, until_provisioned,
};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::Config;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::crawl::Crawler;
use crate::fetch_state::FetchState;
use crate::metrics::Metrics;
use crate::robots::Robots;
use crate::tasks::{pull_loop, Worker};

/// What a fetcher runs with.
pub struct Options {
    pub cfg: Config,
    /// Fetches in flight in this process (default: `fetcher.concurrency`
    /// from the config).
    pub concurrency: Option<usize>,
}

/// What a fetcher reports to: its figures (`/metrics`, the summary line)
/// and its readiness (`/readyz`).
#[derive(Debug, Clone, Default)]
pub struct Observe {
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
}

/// Crawls until `shutdown` is cancelled.
pub async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_observed(options, Observe::default(), shutdown).await
}

/// [`run`], reporting to `observe`.
pub async fn run_observed(
    options: Options,
    observe: Observe,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Options { cfg, concurrency } = options;
    let concurrency = concurrency.unwrap_or(cfg.fetcher.concurrency).max(1);
    let client = pagefeed_events::connect(&cfg.nats, "pagefeed-fetcher").await?;
    let js = jetstream::new(client.clone());
    if until_provisioned(&shutdown, || ensure_streams(&js, &cfg))
        .await?
        .is_none()
    {
        return Ok(());
    }
    let Some(kv) = until_provisioned(&shutdown, || ensure_fetch_state(&js, &cfg)).await? else {
        return Ok(());
    };
    let Some(robots) = until_provisioned(&shutdown, || ensure_robots(&js, &cfg)).await? else {
        return Ok(());
    };
    let robots = Robots::new(robots, cfg.fetcher.robots_ttl);
    observe
        .readiness
        .watch(&client, &[TASKS_STREAM, EVENTS_STREAM]);
    let crawler = Crawler::new(&cfg, FetchState::new(kv), robots, observe.metrics)?;
    info!(concurrency, sites = cfg.sites.len(), "fetcher started");
    let worker = Arc::new(Worker {
        js,
        cfg,
        crawler,
        shutdown,
        hand_back: CancellationToken::new(),
    });
    let outcome = pull_loop(worker, concurrency).await;
    pagefeed_events::close(&client).await;
    info!("fetcher stopped");
    outcome
}
