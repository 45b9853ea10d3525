//! The scheduler: every interval it publishes each site's crawl tasks to
//! `PAGEFEED_TASKS`, and every `retention_every` each site's retention event
//! to `PAGEFEED_EVENTS`, with one more for every site the config does not
//! name; and it sweeps `PAGEFEED_TASKS` for tasks no fetcher will get
//! (`sweep.rs`). Ticks fall on wall-clock slot boundaries and message ids derive from
//! (page, slot), so a second scheduler for high availability publishes
//! nothing twice. Publishing waits for JetStream's acks and retries through
//! disconnects and server restarts.

pub mod metrics;
pub mod plan;
pub mod sweep;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use chrono::Utc;
use pagefeed_cli::Readiness;
use pagefeed_events::backoff::Backoff;
use pagefeed_events::event::{Event, ALL_SITES};
use pagefeed_events::publish::{publish_all, Outgoing, PublishAllError};
use pagefeed_events::streams::{ensure_streams, until_provisioned};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::{Config, Site};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::plan::{retention_for_slot, retention_of_other_sites, slot_tasks, Slots};

/// Tasks published together: a tick is made and published this many at a
/// time, so that its memory does not grow with the site's `batch`.
const TICK_CHUNK: usize = 10_000;

/// What a scheduler runs with.
pub struct Options {
    pub cfg: Config,
}

/// What a scheduler reports to: its figures (`/metrics`, the summary
/// line) and its readiness (`/readyz`).
#[derive(Debug, Clone, Default)]
pub struct Observe {
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
}

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_observed(options, Observe::default(), shutdown).await
}

/// [`run`], reporting to `observe`.
pub async fn run_observed(
    options: Options,
    observe: Observe,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // One copy of the config for every loop: a page list may be large.
    let cfg = Arc::new(options.cfg);
    let client = pagefeed_events::connect(&cfg.nats, "pagefeed-scheduler").await?;
    let js = jetstream::new(client.clone());
    if !provision(&js, &cfg, &shutdown).await? {
        return Ok(());
    }
    observe
        .readiness
        .watch(&client, &[TASKS_STREAM, EVENTS_STREAM]);
    info!(sites = cfg.sites.len(), "scheduler started");
    let metrics = observe.metrics;

    let ticks = Arc::new(Semaphore::new(1));
    let mut loops = JoinSet::new();
    loops.spawn(sweep::sweep_loop(
        client.clone(),
        js.clone(),
        cfg.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    for i in 0..cfg.sites.len() {
        let tick = Schedule {
            js: js.clone(),
            cfg: Arc::clone(&cfg),
            ticks: Arc::clone(&ticks),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        };
        let crawl = tick.clone();
        loops.spawn(async move { crawl.crawl_loop(&crawl.cfg.sites[i]).await });
        loops.spawn(async move {
            let site = &tick.cfg.sites[i];
            tick.retention_loop(&site.name, |slots, index| {
                retention_for_slot(site, slots, index)
            })
            .await
        });
    }
    if !cfg.sites.is_empty() {
        // With no site configured there is no retention to go by: nothing
        // is deleted rather than everything.
        let tick = Schedule {
            js: js.clone(),
            cfg: Arc::clone(&cfg),
            ticks: Arc::clone(&ticks),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        };
        loops.spawn(async move {
            tick.retention_loop(ALL_SITES, |slots, index| {
                retention_of_other_sites(&tick.cfg, slots, index)
            })
            .await
        });
    }
    let mut outcome = Ok(());
    while let Some(joined) = loops.join_next().await {
        let result = joined.context("a scheduling loop panicked").and_then(|r| r);
        if let Err(e) = result {
            // One failing loop (a stream conflict) stops the whole scheduler.
            shutdown.cancel();
            if outcome.is_ok() {
                outcome = Err(e);
            }
        }
    }
    pagefeed_events::close(&client).await;
    info!("scheduler stopped");
    outcome
}

/// Publishes nothing and only sweeps `PAGEFEED_TASKS` until `shutdown`: for
/// draining the queue while the crawl is paused (`--sweep-only`).
pub async fn sweep_only(options: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    sweep_only_observed(options, Observe::default(), shutdown).await
}

/// [`sweep_only`], reporting to `observe`.
pub async fn sweep_only_observed(
    options: Options,
    observe: Observe,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let cfg = Arc::new(options.cfg);
    let client = pagefeed_events::connect(&cfg.nats, "pagefeed-scheduler").await?;
    let js = jetstream::new(client.clone());
    if !provision(&js, &cfg, &shutdown).await? {
        return Ok(());
    }
    observe
        .readiness
        .watch(&client, &[TASKS_STREAM, EVENTS_STREAM]);
    info!("scheduler started: sweeping only");
    let outcome = sweep::sweep_loop(client.clone(), js, cfg, observe.metrics, shutdown).await;
    pagefeed_events::close(&client).await;
    info!("scheduler stopped");
    outcome
}

/// Creates or checks the streams, retrying while NATS is unreachable.
/// Returns false if shutdown came first.
async fn provision(
    js: &jetstream::Context,
    cfg: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    Ok(until_provisioned(shutdown, || ensure_streams(js, cfg))
        .await?
        .is_some())
}

#[derive(Clone)]
struct Schedule {
    js: jetstream::Context,
    cfg: Arc<Config>,
    /// One tick chunk published at a time, whatever the number of sites:
    /// the acks one context awaits stay under async-nats's 5,000 (more
    /// would wait on one another for good).
    ticks: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

impl Schedule {
    /// Publishes the site's tasks at each interval boundary. Slots missed
    /// while publishing was blocked (NATS down) are published late, as many
    /// as one full cycle of the id range and no older than `task_ttl`, so
    /// no batch of ids silently misses its turn.
    async fn crawl_loop(&self, site: &Site) -> anyhow::Result<()> {
        let slots = Slots::new(site.interval);
        let cycle = i64::try_from(site.pages.len().div_ceil(site.batch.max(1))).unwrap_or(1);
        let ttl_slots =
            i64::try_from(self.cfg.nats.task_ttl.as_secs() / site.interval.as_secs().max(1))
                .unwrap_or(i64::MAX);
        let mut last: Option<i64> = None;
        loop {
            let now = slots.index_at(Utc::now());
            let mut from = last.map_or(now, |previous| previous + 1);
            let oldest_worth_it = now - cycle.min(ttl_slots).max(1) + 1;
            if from < oldest_worth_it {
                warn!(
                    site = %site.name,
                    skipped = oldest_worth_it - from,
                    "ticks missed while NATS was unreachable; a full cycle is published instead"
                );
                from = oldest_worth_it;
            }
            for index in from..=now {
                let late = index < now;
                let Some((tasks, duplicates)) = self.publish_tick(site, slots, index).await? else {
                    return Ok(());
                };
                if late {
                    self.metrics.late_ticks.inc();
                }
                info!(
                    site = %site.name,
                    slot = slots.start(index),
                    tasks,
                    duplicates,
                    late,
                    "tick published"
                );
                last = Some(index);
            }
            let Some(done) = last else { continue };
            if !self.sleep_until(slots.start(done + 1)).await {
                return Ok(());
            }
        }
    }

    /// Publishes the tasks of `site` for slot `index`, [`TICK_CHUNK`] at a
    /// time; how many, and how many of them were duplicates, or None on
    /// shutdown.
    async fn publish_tick(
        &self,
        site: &Site,
        slots: Slots,
        index: i64,
    ) -> anyhow::Result<Option<(usize, usize)>> {
        let mut tasks = slot_tasks(site, slots, index);
        let (mut published, mut duplicates) = (0, 0);
        loop {
            let msgs: Vec<Outgoing> = tasks
                .by_ref()
                .take(TICK_CHUNK)
                .map(|task| Outgoing::from(&task))
                .collect();
            if msgs.is_empty() {
                return Ok(Some((published, duplicates)));
            }
            let published_chunk = {
                let _turn = self.ticks.acquire().await?;
                self.publish(&msgs).await?
            };
            let Some(chunk_duplicates) = published_chunk else {
                return Ok(None);
            };
            self.metrics.tasks_published.inc_by(msgs.len() as u64);
            self.metrics
                .tasks_deduplicated
                .inc_by(chunk_duplicates as u64);
            published += msgs.len();
            duplicates += chunk_duplicates;
        }
    }

    /// Publishes a retention event (`event` of the slot) at each retention
    /// boundary: one site's, or that of every site but the configured ones
    /// (`site` is then `*`).
    async fn retention_loop(
        &self,
        site: &str,
        event: impl Fn(Slots, i64) -> Event,
    ) -> anyhow::Result<()> {
        let slots = Slots::new(self.cfg.scheduler.retention_every);
        loop {
            let index = slots.index_at(Utc::now());
            let event = event(slots, index);
            let Some(duplicates) = self.publish(&[Outgoing::from(&event)]).await? else {
                return Ok(());
            };
            self.metrics.retention_events.inc();
            if let Event::Retention(r) = &event {
                info!(site = %site, cutoff = %r.cutoff, duplicate = duplicates > 0, "retention published");
            }
            if !self.sleep_until(slots.start(index + 1)).await {
                return Ok(());
            }
        }
    }

    /// Publishes until every message is acked; recreates the streams if they
    /// vanished (a server that lost its store). Returns how many were
    /// duplicates, or None on shutdown.
    async fn publish(&self, msgs: &[Outgoing]) -> anyhow::Result<Option<usize>> {
        // A stream whose leader is being elected (after a partition heals)
        // also answers "no responders": the provisioning finds it there, so
        // without a pause this would loop as fast as the server answers.
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match publish_all(&self.js, msgs, &self.shutdown).await {
                Ok(acks) => return Ok(Some(acks.iter().filter(|a| a.duplicate).count())),
                Err(PublishAllError::Cancelled { unacked }) => {
                    if unacked > 0 {
                        warn!(unacked, "shutdown before JetStream acked a tick");
                    }
                    return Ok(None);
                }
                Err(PublishAllError::StreamNotFound { subject }) => {
                    warn!(%subject, "no stream takes this subject; provisioning again");
                    if !provision(&self.js, &self.cfg, &self.shutdown).await?
                        || !backoff.wait(&self.shutdown).await
                    {
                        return Ok(None);
                    }
                }
                Err(e @ PublishAllError::Refused { .. }) => return Err(e.into()),
            }
        }
    }

    /// Sleeps until the unix second `at`; false if shutdown came first.
    async fn sleep_until(&self, at: i64) -> bool {
        let now_ms = Utc::now().timestamp_millis();
        let wait_ms = at.saturating_mul(1000).saturating_sub(now_ms).max(0);
        let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.shutdown.cancelled() => false,
        }
    }
}
