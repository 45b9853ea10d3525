//! The fetcher benchmark: how fast the fetcher's own HTTP client gets pages
//! (a), how fast it gets, decodes and extracts them without NATS (a′: the
//! limit of a fetcher on this machine), and how fast one (b) and two (c)
//! real fetcher processes crawl end to end through a fresh nats-server, at no
//! added latency and again at a site latency that makes the crawl
//! latency-bound. See docs/BENCHMARKS.md, "Fetcher throughput".

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream;
use futures::{StreamExt as _, TryStreamExt as _};
use pagefeed_events::config::Pages;
use pagefeed_events::streams::{ensure_streams, FETCHERS_CONSUMER};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::Config;
use pagefeed_fetcher::decode::decode;
use pagefeed_fetcher::extract::{Extractor, Limits};
use pagefeed_fetcher::http::{FetchSettings, HttpClient, Outcome, Validators};
use pagefeed_fetcher::policy::AddressPolicy;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::process::{Process, ServiceCommand};
use pagefeed_testkit::sample_site::{page_kind, PageKind, ENTRIES_PER_PAGE};
use tokio::time::MissedTickBehavior;

use crate::procs::{
    cpu_time, peak_rss_kib, pid_with_arg, Binaries, Machine, Pinning, SampleSiteProcess,
    CLIENT_CORE, SERVER_CORE,
};
use crate::publish;

mod report;

/// Messages a first crawl of a normal page puts in `PAGEFEED_EVENTS`: one
/// `entry_observed` per entry and the `page_crawled`.
const EVENTS_PER_PAGE: u64 = ENTRIES_PER_PAGE as u64 + 1;
/// How often the end-to-end runs look at the events stream.
const POLL: Duration = Duration::from_millis(20);
/// An end-to-end run fails when the events stream does not grow for this long.
const STALL: Duration = Duration::from_secs(120);

/// `pagefeed-bench fetcher` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Pages per run at --latency-ms (distinct normal pages of the sample site).
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub pages: usize,
    /// Fetches in flight, in this process for (a)/(a′) and in each fetcher
    /// process for (b)/(c) (`--concurrency` and `per_host_concurrency`).
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub concurrency: usize,
    /// Delay the sample site adds to each page, for the main runs.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Delay the sample site adds to each page, for the scaling runs.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub scaling_latency_ms: u64,
    /// Pages per run at --scaling-latency-ms; 0 skips the scaling runs.
    #[arg(long, default_value_t = 4_000, value_name = "N")]
    pub scaling_pages: usize,
    /// Fetches in flight per client in the scaling runs. Low enough that one
    /// fetcher is bound by the site's latency, not by the CPU (which a
    /// second fetcher on the same core could not double): what the scaling
    /// runs measure is whether a second process doubles a latency-bound
    /// crawl.
    #[arg(long, default_value_t = 16, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub scaling_concurrency: usize,
    /// Only these runs (comma separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "RUNS")]
    pub only: Vec<Run>,
    /// Runs each fetcher process under this command (split on spaces), for
    /// profiling: `--fetcher-wrapper "valgrind --tool=callgrind"`.
    #[arg(long, value_name = "COMMAND")]
    pub fetcher_wrapper: Option<String>,
    /// Keeps the sample site's and the fetchers' logs (their directory is printed).
    #[arg(long)]
    pub keep_logs: bool,
}

/// One kind of measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Run {
    /// (a) GET with the fetcher's HTTP client, body read.
    Get,
    /// (a′) GET, decode, extract, in this process, no NATS.
    Parse,
    /// (b) one fetcher process, end to end.
    One,
    /// (c) two fetcher processes, end to end.
    Two,
}

impl Run {
    pub const ALL: [Run; 4] = [Run::Get, Run::Parse, Run::One, Run::Two];

    pub fn label(self) -> &'static str {
        match self {
            Run::Get => "(a) raw GET",
            Run::Parse => "(a′) GET + decode + extract",
            Run::One => "(b) 1 fetcher, end to end",
            Run::Two => "(c) 2 fetchers, end to end",
        }
    }

    fn fetchers(self) -> usize {
        match self {
            Run::Get | Run::Parse => 0,
            Run::One => 1,
            Run::Two => 2,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub run: Run,
    pub latency_ms: u64,
    pub pages: u64,
    /// Entries extracted ((a′)) or `entry_observed` events stored ((b), (c)).
    pub entries: Option<u64>,
    pub elapsed: Duration,
    /// CPU time of the client: this process for (a)/(a′), the fetcher
    /// processes together for (b)/(c).
    pub client_cpu: Duration,
    pub site_cpu: Duration,
    /// `None` when there was no nats-server, or its pid was not found.
    pub nats_cpu: Option<Duration>,
    /// `VmHWM` of each fetcher process, in KiB.
    pub peak_rss_kib: Vec<u64>,
    /// Pages each fetcher process counted as crawled (its `/metrics`).
    pub pages_by_fetcher: Vec<u64>,
    /// From the fetchers' start to the first event in the stream.
    pub first_event: Option<Duration>,
}

impl Measured {
    pub fn pages_per_sec(&self) -> f64 {
        self.pages as f64 / self.elapsed.as_secs_f64()
    }

    pub fn entries_per_sec(&self) -> Option<f64> {
        self.entries.map(|e| e as f64 / self.elapsed.as_secs_f64())
    }
}

/// Everything a report needs besides the runs.
#[derive(Debug, Clone)]
pub struct Setup {
    pub machine: Machine,
    pub pinned: bool,
    /// Whether nats-server could be found and pinned (every end-to-end run).
    pub nats_pinned: bool,
    pub options: Options,
}

/// Runs the benchmark and prints the report. This process should already be
/// on [`CLIENT_CORE`] (see `main`), so that its runtime has the threads a
/// fetcher pinned to one core would have.
pub async fn run(options: Options, machine: Machine, pins: Pinning) -> anyhow::Result<()> {
    let bins = Binaries::locate()?;
    let wrapper: Vec<String> = options
        .fetcher_wrapper
        .as_deref()
        .map(|w| w.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let runs: Vec<Run> = if options.only.is_empty() {
        Run::ALL.to_vec()
    } else {
        Run::ALL
            .into_iter()
            .filter(|r| options.only.contains(r))
            .collect()
    };
    let logs = tempfile::Builder::new()
        .prefix("pagefeed-bench-")
        .tempdir()?;
    let mut results = Vec::new();
    let mut nats_pinned = true;
    let rounds = [
        (options.latency_ms, options.pages, options.concurrency),
        (
            options.scaling_latency_ms,
            options.scaling_pages,
            options.scaling_concurrency,
        ),
    ];
    for (latency_ms, pages, concurrency) in rounds {
        if pages == 0 {
            continue;
        }
        let process = SampleSiteProcess::start(&bins, &pins, latency_ms, logs.path())?;
        let ids: Vec<u64> = (1..)
            .filter(|&id| page_kind(id) == PageKind::Normal)
            .take(pages)
            .collect();
        let last = ids.last().copied().unwrap_or(1);
        let site = Served {
            site_toml: pagefeed_testkit::config::id_site(
                SITE,
                &process.url_template,
                1,
                last,
                last,
                "1h",
            ),
            url_template: process.url_template.clone(),
            pid: process.pid(),
            events: ids.len() as u64 * EVENTS_PER_PAGE,
        };
        for &run in &runs {
            eprintln!(
                "running {} at {latency_ms} ms, {pages} pages ...",
                run.label()
            );
            let bench = Bench {
                site: &site,
                ids: &ids,
                latency_ms,
                concurrency,
                pins: &pins,
            };
            let measured = match run {
                Run::Get | Run::Parse => bench.in_process(run == Run::Parse).await?,
                Run::One | Run::Two => {
                    let (measured, pinned) =
                        bench.end_to_end(run, &bins, &wrapper, logs.path()).await?;
                    nats_pinned &= pinned;
                    measured
                }
            };
            eprintln!(
                "  {:.0} pages/s in {:.2} s",
                measured.pages_per_sec(),
                measured.elapsed.as_secs_f64()
            );
            results.push(measured);
        }
        process.stop()?;
    }
    let setup = Setup {
        machine,
        pinned: pins.enabled(),
        nats_pinned,
        options,
    };
    print!("{}", report::render(&setup, &results));
    if setup.options.keep_logs {
        eprintln!("logs kept in {}", logs.keep().display());
    }
    Ok(())
}

/// The site a run crawls: a URL template over ids, the process serving it,
/// and the `[[site]]` table of the fetchers' config.
pub(crate) struct Served {
    /// `http://127.0.0.1:PORT/...{id}...`
    pub url_template: String,
    pub pid: u32,
    /// The `[[site]]` table, named [`SITE`], over `ids`.
    pub site_toml: String,
    /// Messages one crawl of all the ids puts in `PAGEFEED_EVENTS`.
    pub events: u64,
}

/// The name of the site every run crawls.
pub(crate) const SITE: &str = "sample";

/// One run's surroundings.
pub(crate) struct Bench<'a> {
    pub site: &'a Served,
    pub ids: &'a [u64],
    pub latency_ms: u64,
    pub concurrency: usize,
    pub pins: &'a Pinning,
}

impl Bench<'_> {
    /// The config a fetcher gets: one site over the ids, and a per-host cap
    /// as high as the concurrency (the default 8 would throttle a crawl of
    /// one host).
    pub(crate) fn config_text(&self, nats_url: &str) -> String {
        let c = self.concurrency;
        pagefeed_testkit::config::config_text(
            nats_url,
            "",
            &format!(
                "[fetcher]\nconcurrency = {c}\nper_host_concurrency = {c}\nack_wait = \"30s\"\n"
            ),
            std::slice::from_ref(&self.site.site_toml),
        )
    }

    /// (a) or, with `parse`, (a′): the fetcher's client and parser in this
    /// process, `concurrency` pages in flight.
    pub(crate) async fn in_process(&self, parse: bool) -> anyhow::Result<Measured> {
        self.pins.pin_self(CLIENT_CORE)?;
        let cfg = Config::parse(
            Path::new("bench.toml"),
            &self.config_text("nats://127.0.0.1:4222"),
        )?;
        let site = &cfg.sites[0];
        let Pages::Ids { url, .. } = &site.pages else {
            bail!("the bench site is not an id range");
        };
        let http = HttpClient::new(
            FetchSettings::from(&cfg.fetcher),
            AddressPolicy::for_site(site),
        )?;
        let extractor = Arc::new(Extractor::new(
            &site.extract,
            site.timezone,
            Limits::from(&cfg.fetcher),
        )?);
        let me = std::process::id();
        let (cpu_before, site_before) = (cpu_time(me)?, cpu_time(self.site.pid)?);
        let start = Instant::now();
        let entries = futures::stream::iter(self.ids.iter().copied())
            .map(|id| {
                let http = http.clone();
                let extractor = parse.then(|| extractor.clone());
                let url = url.replace("{id}", &id.to_string());
                tokio::spawn(async move { one_page(&http, &url, extractor).await })
            })
            .buffer_unordered(self.concurrency)
            .map(|joined| joined?)
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
            .await?;
        let elapsed = start.elapsed();
        Ok(Measured {
            run: if parse { Run::Parse } else { Run::Get },
            latency_ms: self.latency_ms,
            pages: self.ids.len() as u64,
            entries: parse.then_some(entries),
            elapsed,
            client_cpu: cpu_time(me)?.saturating_sub(cpu_before),
            site_cpu: cpu_time(self.site.pid)?.saturating_sub(site_before),
            nats_cpu: None,
            peak_rss_kib: Vec::new(),
            pages_by_fetcher: Vec::new(),
            first_event: None,
        })
    }

    /// (b) or (c): a fresh nats-server, the tasks published, then the fetcher
    /// processes, timed from their start until every task's events are in
    /// `PAGEFEED_EVENTS` and no task is pending. Also says whether
    /// nats-server was found (and pinned).
    pub(crate) async fn end_to_end(
        &self,
        run: Run,
        bins: &Binaries,
        wrapper: &[String],
        logs: &Path,
    ) -> anyhow::Result<(Measured, bool)> {
        // This process only watches now: out of the fetchers' way.
        self.pins.pin_self(SERVER_CORE)?;
        let nats = NatsServer::start().await?;
        let nats_dir = nats.store_dir();
        let nats_conf = nats_dir
            .parent()
            .map(|d| d.join("nats.conf"))
            .context("the nats store has no parent directory")?;
        let nats_pid = pid_with_arg(&nats_conf.to_string_lossy());
        if let Some(pid) = nats_pid {
            self.pins.pin_pid(pid, SERVER_CORE)?;
        }

        let dir = tempfile::tempdir()?;
        let config = dir.path().join("pagefeed.toml");
        std::fs::write(&config, self.config_text(&nats.url()))?;
        let cfg = Config::load(&config)?;
        let js = jetstream::new(async_nats::connect(nats.url()).await?);
        ensure_streams(&js, &cfg).await?;
        self.publish_tasks(&js).await?;
        let mut events = js.get_stream(EVENTS_STREAM).await?;
        let tasks = js.get_stream(TASKS_STREAM).await?;
        let queued = tasks.get_info().await?.state.messages;
        anyhow::ensure!(
            queued == self.ids.len() as u64,
            "{queued} tasks queued, not {}",
            self.ids.len()
        );
        let expected = self.site.events;

        let site_before = cpu_time(self.site.pid)?;
        let nats_before = nats_pid.map(cpu_time).transpose()?;
        let start = Instant::now();
        let mut fetchers = Vec::new();
        for i in 0..run.fetchers() {
            let command = ServiceCommand::new(&format!("fetcher {}", i + 1), &bins.fetcher)
                .wrapped(self.pins.wrapper(CLIENT_CORE, wrapper))
                .arg("--config")
                .arg(&config)
                .arg("--concurrency")
                .arg(self.concurrency.to_string())
                .env("NO_COLOR", "1");
            let log = logs.join(format!(
                "fetcher-{}-{}ms-{}.log",
                run.fetchers(),
                self.latency_ms,
                i + 1
            ));
            fetchers.push(Process::start(command, log)?);
        }

        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut first_event = None;
        let (mut seen, mut grew_at) = (0, Instant::now());
        let stored = loop {
            poll.tick().await;
            for fetcher in &mut fetchers {
                fetcher.check_running()?;
            }
            let stored = events.info().await?.state.messages;
            if stored > 0 && first_event.is_none() {
                first_event = Some(start.elapsed());
            }
            if stored != seen {
                (seen, grew_at) = (stored, Instant::now());
            } else if grew_at.elapsed() > STALL {
                bail!(
                    "no progress for {STALL:?}: {stored} of {expected} events stored; \
                     last fetcher log lines:\n{}",
                    fetchers[0].log_tail(20)
                );
            }
            if stored >= expected {
                let consumer = tasks.consumer_info(FETCHERS_CONSUMER).await?;
                if consumer.num_pending == 0 && consumer.num_ack_pending == 0 {
                    break stored;
                }
            }
        };
        let elapsed = start.elapsed();

        let mut peaks = Vec::new();
        let mut client_cpu = Duration::ZERO;
        for fetcher in &fetchers {
            peaks.push(peak_rss_kib(fetcher.pid())?);
            client_cpu += cpu_time(fetcher.pid())?;
        }
        let site_cpu = cpu_time(self.site.pid)?.saturating_sub(site_before);
        let nats_cpu = match (nats_pid, nats_before) {
            (Some(pid), Some(before)) => Some(cpu_time(pid)?.saturating_sub(before)),
            _ => None,
        };
        let mut pages_by_fetcher = Vec::new();
        for fetcher in &fetchers {
            pages_by_fetcher.push(crawled_by(fetcher).await?);
        }
        for fetcher in &mut fetchers {
            let status = fetcher.terminate(Duration::from_secs(30)).await?;
            // A wrapper (a profiler) may end by the signal itself.
            anyhow::ensure!(
                status.success() || !wrapper.is_empty(),
                "a fetcher exited with {status} on SIGTERM:\n{}",
                fetcher.log_tail(30)
            );
        }
        anyhow::ensure!(
            stored == expected,
            "{stored} events stored, {expected} expected: some pages did not give \
             the events expected"
        );
        let measured = Measured {
            run,
            latency_ms: self.latency_ms,
            pages: self.ids.len() as u64,
            entries: Some(stored - self.ids.len() as u64),
            elapsed,
            client_cpu,
            site_cpu,
            nats_cpu,
            peak_rss_kib: peaks,
            pages_by_fetcher,
            first_event,
        };
        Ok((measured, nats_pid.is_some()))
    }

    /// Queues one task per id, as the scheduler would, in pipelined chunks
    /// (as [`publish::publish`] publishes events).
    async fn publish_tasks(&self, js: &jetstream::Context) -> anyhow::Result<()> {
        let slot = chrono::Utc::now().timestamp();
        futures::stream::iter(self.ids.chunks(publish::CHUNK))
            .map(|chunk| {
                pagefeed_testkit::streams::publish_tasks(
                    js,
                    SITE,
                    &self.site.url_template,
                    chunk.iter().copied(),
                    slot,
                )
            })
            .buffer_unordered(publish::CHUNKS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// Fetches one page; with an extractor, decodes and extracts it on a
/// blocking thread, as the fetcher does, and says how many entries it has.
async fn one_page(
    http: &HttpClient,
    url: &str,
    extractor: Option<Arc<Extractor>>,
) -> anyhow::Result<u64> {
    let fetched = match http.fetch(url, &Validators::default()).await {
        Ok(Outcome::Fetched(fetched)) => fetched,
        Ok(Outcome::NotModified { .. }) => bail!("{url}: 304 to an unconditional GET"),
        Err(e) => bail!("{url}: {e}"),
    };
    let Some(extractor) = extractor else {
        anyhow::ensure!(!fetched.body.is_empty(), "{url}: empty body");
        return Ok(0);
    };
    let now = chrono::Utc::now();
    let page = tokio::task::spawn_blocking(move || {
        let decoded = decode(&fetched.body, fetched.content_type.as_deref());
        extractor.extract(&decoded.text, &fetched.url, now)
    })
    .await?
    .with_context(|| format!("{url}: nothing extracted"))?;
    Ok(page.entries.len() as u64)
}

/// Pages a running fetcher counted as crawled: its
/// `pagefeed_fetcher_pages_total{outcome="crawled"}`, read from the
/// `/metrics` address its log names (each fetcher here listens on a port of
/// its own, see [`ServiceCommand::new`]).
async fn crawled_by(fetcher: &Process) -> anyhow::Result<u64> {
    let log = fetcher.log();
    let addr = log
        .lines()
        .filter(|l| l.contains("serving /metrics"))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("metrics="))
        })
        .with_context(|| format!("no /metrics address in the log:\n{}", fetcher.log_tail(20)))?;
    // reqwest is built without a default TLS provider; plain HTTP here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("pagefeed_fetcher_pages_total{outcome=\"crawled\"} "))
        .map_or(Ok(0), |n| {
            n.trim()
                .parse()
                .with_context(|| format!("pages_total reads {n:?}"))
        })
}
