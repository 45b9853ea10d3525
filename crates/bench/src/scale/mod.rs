//! The scheduler and the fetch state at scale (issue 17, point 6): how long
//! the real scheduler takes to publish a tick of 100,000 tasks against one
//! client publishing as many messages as fast as JetStream acks them (the
//! limit), the scheduler's peak RSS with a site of 1,000,000 ids and a page
//! list over 1,000 hosts, a fetcher's peak RSS with 10,000 hosts in its
//! politeness state against the same crawl on one host, and the fetch-state
//! bucket's bytes per page. See docs/BENCHMARKS.md, "At scale".

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream::{self, message::PublishMessage};
use futures::StreamExt as _;
use pagefeed_events::publish::Outgoing;
use pagefeed_events::streams::{ensure_streams, FETCHERS_CONSUMER, FETCH_STATE_BUCKET};
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_events::{Config, PageKey, Task};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::process::{Process, ServiceCommand};
use pagefeed_testkit::sample_site::{
    page_kind, PageKind, SampleSite, SampleSiteOptions, ENTRIES_PER_PAGE,
};

use crate::procs::{
    cpu_time, peak_rss_kib, pid_with_arg, Binaries, Machine, Pinning, CLIENT_CORE, SERVER_CORE,
};

mod report;

/// How often the runs look at the streams.
const POLL: Duration = Duration::from_millis(5);
/// A run fails when nothing moves for this long.
const STALL: Duration = Duration::from_secs(120);
/// Publishes whose acks are awaited at once by the limit's client: under
/// async-nats's 5,000 acks in flight per context.
const LIMIT_WINDOW: usize = 4_000;
/// Hosts per third octet: 127.0.N.1 to 127.0.N.250.
const HOSTS_PER_OCTET: usize = 250;

/// `pagefeed-bench scale` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Ids of the id-range site.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub ids: u64,
    /// Tasks of one tick of the id-range site (its `batch`).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub batch: u64,
    /// Pages of the page-list site.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub list_pages: usize,
    /// Hosts the page list spreads over.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub list_hosts: usize,
    /// Hosts (and pages, one each) of the site the fetcher crawls; also the
    /// pages of its one-host run.
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=50_000))]
    pub hosts: usize,
    /// Keeps the scheduler's and fetchers' logs (their directory is printed).
    #[arg(long)]
    pub keep_logs: bool,
}

/// What the runs measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// The limit, before and after the scheduler's tick.
    pub limit: Vec<Timed>,
    /// The tick of the id-range site alone.
    pub tick: Timed,
    /// The scheduler's peak RSS with the id-range site alone, KiB.
    pub tick_rss_kib: u64,
    /// The first ticks of every site together.
    pub all_ticks: Timed,
    pub all_rss_kib: u64,
    /// Bytes of one tick: subject, message id and payload of every task.
    pub tick_bytes: u64,
    /// The fetcher on one host, then on `hosts` hosts.
    pub one_host: Crawl,
    pub many_hosts: Crawl,
    /// The fetch-state bucket after both crawls.
    pub bucket_bytes: u64,
    pub bucket_pages: u64,
    /// Mean size of a stored value (the page's state, JSON).
    pub value_bytes: f64,
}

/// A publication: how many messages, from the start (of the process, or of
/// the first send) and from the first message stored (the first send for
/// the limit), to the last stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timed {
    pub messages: u64,
    pub from_start: Duration,
    pub from_first: Duration,
    /// CPU time nats-server used meanwhile (when its pid was found).
    pub nats_cpu: Option<Duration>,
    /// CPU time of the publisher: the scheduler process, or this one.
    pub client_cpu: Duration,
}

impl Timed {
    pub fn per_sec(&self) -> f64 {
        self.messages as f64 / self.from_first.as_secs_f64().max(1e-9)
    }
}

/// One fetcher crawl.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crawl {
    pub pages: u64,
    pub hosts: usize,
    pub elapsed: Duration,
    pub peak_rss_kib: u64,
}

/// Everything a report needs besides the figures.
#[derive(Debug, Clone)]
pub struct Setup {
    pub machine: Machine,
    pub pinned: bool,
    pub options: Options,
}

/// Runs every measurement and prints the report.
pub async fn run(options: Options, machine: Machine, pins: Pinning) -> anyhow::Result<()> {
    let bins = Binaries::locate()?;
    // A listener per host; the sites close every connection after its answer.
    let open_files = options.hosts as u64 + 1_000;
    check_open_files(open_files)?;
    let logs = tempfile::Builder::new()
        .prefix("pagefeed-bench-scale-")
        .tempdir()?;

    pins.pin_self(SERVER_CORE)?;
    let nats = NatsServer::start().await?;
    let nats_conf = nats
        .store_dir()
        .parent()
        .map(|d| d.join("nats.conf"))
        .context("the nats store has no parent directory")?;
    let nats_pid = pid_with_arg(&nats_conf.to_string_lossy());
    if let Some(pid) = nats_pid {
        pins.pin_pid(pid, SERVER_CORE)?;
    }
    eprintln!("starting {} sample sites on 127.0.x.y ...", options.hosts);
    let sites = start_sites(options.hosts).await?;
    let ids: Vec<u64> = (1..)
        .filter(|&id| page_kind(id) == PageKind::Normal)
        .take(options.hosts.max(options.list_pages))
        .collect();
    let scale = Scale {
        options: options.clone(),
        sites: sites.iter().map(SampleSite::url_template).collect(),
        ids,
        bins,
        pins,
        nats_pid,
        dir: tempfile::tempdir()?,
        logs: logs.path().to_owned(),
    };
    let js = jetstream::new(async_nats::connect(nats.url()).await?);
    let measured = scale.measure(&js, &nats.url()).await?;
    let setup = Setup {
        machine,
        pinned: pins.enabled(),
        options,
    };
    print!("{}", report::render(&setup, &measured));
    for site in sites {
        site.shutdown().await;
    }
    if setup.options.keep_logs {
        eprintln!("logs kept in {}", logs.keep().display());
    }
    Ok(())
}

/// Fails, saying what to do, when this process may not open `needed` files.
fn check_open_files(needed: u64) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    match soft {
        Some(soft) if soft < needed => bail!(
            "this run needs {needed} open files and may open {soft}: \
             run it under `ulimit -n {}` (docs/BENCHMARKS.md)",
            needed.next_power_of_two()
        ),
        _ => Ok(()),
    }
}

/// The loopback address of host `i`: 127.0.1.1, 127.0.1.2, ... 127.0.1.250,
/// 127.0.2.1, ...
fn host_ip(i: usize) -> IpAddr {
    let third = u8::try_from(1 + i / HOSTS_PER_OCTET).unwrap_or(u8::MAX);
    let fourth = u8::try_from(1 + i % HOSTS_PER_OCTET).unwrap_or(u8::MAX);
    IpAddr::V4(Ipv4Addr::new(127, 0, third, fourth))
}

/// One sample site per host, each on a port of its own.
async fn start_sites(hosts: usize) -> anyhow::Result<Vec<SampleSite>> {
    let mut sites = Vec::with_capacity(hosts);
    for i in 0..hosts {
        let addr = SocketAddr::new(host_ip(i), 0);
        let opts = SampleSiteOptions {
            close_connections: true,
            ..SampleSiteOptions::default()
        };
        let site = SampleSite::start(addr, opts)
            .await
            .with_context(|| format!("cannot bind a sample site on {addr}"))?;
        sites.push(site);
    }
    Ok(sites)
}

/// The runs' surroundings.
struct Scale {
    options: Options,
    /// Each host's page URL template.
    sites: Vec<String>,
    /// Normal pages of the sample site, as many as the largest list.
    ids: Vec<u64>,
    bins: Binaries,
    pins: Pinning,
    nats_pid: Option<u32>,
    /// Where the configs go.
    dir: tempfile::TempDir,
    logs: PathBuf,
}

/// Which sites a config holds and how its fetcher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// The id-range site only.
    Ids,
    /// Every site; the fetcher spaces the requests to a host by a minute,
    /// so that every host it crawls stays in its politeness state.
    All,
    /// Every site; the fetcher crawls one host as fast as it can.
    OneHost,
}

impl Scale {
    async fn measure(&self, js: &jetstream::Context, nats_url: &str) -> anyhow::Result<Measured> {
        let ids_cfg = self.write_config(nats_url, Setting::Ids)?;
        let all_cfg = self.write_config(nats_url, Setting::All)?;
        let one_cfg = self.write_config(nats_url, Setting::OneHost)?;
        let mut m = Measured::default();
        let slot = chrono::Utc::now().timestamp();

        for round in 0..2 {
            eprintln!(
                "the limit: one client publishing {} tasks ...",
                self.options.batch
            );
            // Tasks of slots long past: ids of their own, sizes of today's.
            let tasks = self.id_tasks(slot - 3_600 * (1_000 + round));
            m.tick_bytes = tasks
                .iter()
                .map(|t| (t.subject.len() + t.msg_id.len() + t.payload.len()) as u64)
                .sum();
            fresh_tasks(js, &Config::load(&ids_cfg)?).await?;
            self.pins.pin_self(CLIENT_CORE)?;
            let timed = self.limit(js, &tasks).await;
            self.pins.pin_self(SERVER_CORE)?;
            m.limit.push(timed?);
            eprintln!("  {:.0} tasks/s", m.limit[m.limit.len() - 1].per_sec());
            if round == 0 {
                eprintln!("the scheduler's tick of {} tasks ...", self.options.batch);
                fresh_tasks(js, &Config::load(&ids_cfg)?).await?;
                (m.tick, m.tick_rss_kib) = self
                    .scheduler_tick(js, &ids_cfg, self.options.batch, "ids")
                    .await?;
                eprintln!("  {:.0} tasks/s", m.tick.per_sec());
            }
        }

        eprintln!("the scheduler with every site ...");
        fresh_tasks(js, &Config::load(&all_cfg)?).await?;
        // The id range's batch, the page list, and the fetcher runs' two sites.
        let every = self.options.batch + (self.options.list_pages + 2 * self.options.hosts) as u64;
        (m.all_ticks, m.all_rss_kib) = self.scheduler_tick(js, &all_cfg, every, "all").await?;

        eprintln!(
            "a fetcher over {} pages of one host ...",
            self.options.hosts
        );
        m.one_host = self.crawl(js, &one_cfg, "one", 1).await?;
        eprintln!(
            "a fetcher over {} pages of as many hosts ...",
            self.options.hosts
        );
        m.many_hosts = self
            .crawl(js, &all_cfg, "hosts", self.options.hosts)
            .await?;

        let bucket = js.get_key_value(FETCH_STATE_BUCKET).await?;
        let state = js
            .get_stream(format!("KV_{FETCH_STATE_BUCKET}"))
            .await?
            .info()
            .await?
            .state
            .clone();
        (m.bucket_bytes, m.bucket_pages) = (state.bytes, state.messages);
        let keys: Vec<String> = (0..self.options.hosts)
            .map(|i| format!("hosts.p{i}"))
            .chain((0..self.options.hosts).map(|i| format!("one.p{i}")))
            .collect();
        let sizes: Vec<usize> = futures::stream::iter(keys)
            .map(|key| {
                let bucket = bucket.clone();
                async move { bucket.get(key).await.map(|v| v.map_or(0, |v| v.len())) }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        m.value_bytes = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
        Ok(m)
    }

    /// Writes the config of `setting` and returns its path.
    fn write_config(&self, nats_url: &str, setting: Setting) -> anyhow::Result<PathBuf> {
        let o = &self.options;
        let mut sites = vec![pagefeed_testkit::config::id_site(
            "ids",
            &self.sites[0],
            1,
            o.ids,
            o.batch,
            "1h",
        )];
        if setting != Setting::Ids {
            let list = (0..o.list_pages).map(|i| {
                let host = i % o.list_hosts.min(self.sites.len()).max(1);
                (format!("p{i}"), self.page_url(host, i))
            });
            sites.push(list_site("list", list));
            let hosts = (0..o.hosts).map(|i| (format!("p{i}"), self.page_url(i, i)));
            sites.push(list_site("hosts", hosts));
            let one = (0..o.hosts).map(|i| (format!("p{i}"), self.page_url(0, i)));
            sites.push(list_site("one", one));
        }
        let fetcher = match setting {
            Setting::OneHost => {
                "[fetcher]\nper_host_concurrency = 64\nper_host_delay = \"0s\"\nack_wait = \"30s\"\n"
            }
            Setting::Ids | Setting::All => {
                "[fetcher]\nper_host_delay = \"60s\"\nack_wait = \"30s\"\n"
            }
        };
        let text = pagefeed_testkit::config::config_text(nats_url, "", fetcher, &sites);
        let path = self
            .dir
            .path()
            .join(format!("{setting:?}.toml").to_lowercase());
        std::fs::write(&path, text)?;
        Config::load(&path).with_context(|| format!("{}", path.display()))?;
        Ok(path)
    }

    /// Page `i` of the sample site on host `host`.
    fn page_url(&self, host: usize, i: usize) -> String {
        self.sites[host].replace("{id}", &self.ids[i % self.ids.len()].to_string())
    }

    /// The id-range site's first batch for `slot`, as the scheduler makes it.
    fn id_tasks(&self, slot: i64) -> Vec<Outgoing> {
        (1..=self.options.batch)
            .filter_map(|id| {
                let id = id.to_string();
                let page = PageKey::new("ids", &id).ok()?;
                let task = Task::new(page, self.sites[0].replace("{id}", &id), slot);
                Some(Outgoing::from(&task))
            })
            .collect()
    }

    /// One client publishing `msgs` with [`LIMIT_WINDOW`] acks in flight.
    async fn limit(&self, js: &jetstream::Context, msgs: &[Outgoing]) -> anyhow::Result<Timed> {
        let nats_before = self.nats_cpu()?;
        let me = std::process::id();
        let cpu_before = cpu_time(me)?;
        let started = Instant::now();
        let mut acks = VecDeque::with_capacity(LIMIT_WINDOW);
        for msg in msgs {
            if acks.len() >= LIMIT_WINDOW {
                if let Some(ack) = acks.pop_front() {
                    ack.await?;
                }
            }
            let publish = PublishMessage::build()
                .payload(msg.payload.clone())
                .message_id(&msg.msg_id);
            acks.push_back(js.send_publish(msg.subject.clone(), publish).await?);
        }
        while let Some(ack) = acks.pop_front() {
            ack.await?;
        }
        let from_start = started.elapsed();
        let stored = js
            .get_stream(TASKS_STREAM)
            .await?
            .info()
            .await?
            .state
            .messages;
        anyhow::ensure!(
            stored == msgs.len() as u64,
            "{stored} of {} stored",
            msgs.len()
        );
        Ok(Timed {
            messages: stored,
            from_start,
            from_first: from_start,
            nats_cpu: self
                .nats_cpu()?
                .zip(nats_before)
                .map(|(a, b)| a.saturating_sub(b)),
            client_cpu: cpu_time(me)?.saturating_sub(cpu_before),
        })
    }

    /// CPU time nats-server has used so far.
    fn nats_cpu(&self) -> anyhow::Result<Option<Duration>> {
        self.nats_pid.map(cpu_time).transpose()
    }

    /// Starts the scheduler with `config` and times it until `expected`
    /// tasks are stored; its peak RSS then.
    async fn scheduler_tick(
        &self,
        js: &jetstream::Context,
        config: &Path,
        expected: u64,
        name: &str,
    ) -> anyhow::Result<(Timed, u64)> {
        let mut tasks = js.get_stream(TASKS_STREAM).await?;
        let command = ServiceCommand::new(&format!("scheduler ({name})"), &self.bins.scheduler)
            .wrapped(self.pins.wrapper(CLIENT_CORE, &[]))
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1");
        let nats_before = self.nats_cpu()?;
        let started = Instant::now();
        let mut scheduler =
            Process::start(command, self.logs.join(format!("scheduler-{name}.log")))?;
        let (mut first, mut seen, mut moved_at) = (None, 0, Instant::now());
        loop {
            tokio::time::sleep(POLL).await;
            scheduler.check_running()?;
            let stored = tasks.info().await?.state.messages;
            if stored > 0 && first.is_none() {
                first = Some(started.elapsed());
            }
            if stored >= expected {
                break;
            }
            if stored != seen {
                (seen, moved_at) = (stored, Instant::now());
            } else if moved_at.elapsed() > STALL {
                bail!(
                    "{stored} of {expected} tasks after {STALL:?} without progress:\n{}",
                    scheduler.log_tail(20)
                );
            }
        }
        let from_start = started.elapsed();
        let nats_cpu = self
            .nats_cpu()?
            .zip(nats_before)
            .map(|(a, b)| a.saturating_sub(b));
        let rss = peak_rss_kib(scheduler.pid())?;
        let client_cpu = cpu_time(scheduler.pid())?;
        let status = scheduler.terminate(Duration::from_secs(30)).await?;
        anyhow::ensure!(
            status.success(),
            "the scheduler exited with {status}:\n{}",
            scheduler.log_tail(20)
        );
        let first = first.unwrap_or(from_start);
        Ok((
            Timed {
                messages: expected,
                from_start,
                from_first: from_start.saturating_sub(first),
                nats_cpu,
                client_cpu,
            },
            rss,
        ))
    }

    /// Queues a task for every page of list site `site`, then runs a fetcher
    /// with `config` until every task's events are stored and none is
    /// pending; its peak RSS.
    async fn crawl(
        &self,
        js: &jetstream::Context,
        config: &Path,
        site: &str,
        hosts: usize,
    ) -> anyhow::Result<Crawl> {
        let cfg = Config::load(config)?;
        fresh_tasks(js, &cfg).await?;
        let pages = self.options.hosts;
        let slot = chrono::Utc::now().timestamp();
        let msgs: Vec<Outgoing> = (0..pages)
            .map(|i| {
                let page = PageKey::new(site, &format!("p{i}"))?;
                let url = cfg
                    .sites
                    .iter()
                    .find(|s| s.name == site)
                    .and_then(|s| s.page_url(page.id()))
                    .context("no such page")?;
                Ok(Outgoing::from(&Task::new(page, url, slot)))
            })
            .collect::<anyhow::Result<_>>()?;
        self.limit(js, &msgs).await?;
        let mut events = js.get_stream(EVENTS_STREAM).await?;
        let tasks = js.get_stream(TASKS_STREAM).await?;
        let expected =
            events.info().await?.state.messages + pages as u64 * (ENTRIES_PER_PAGE as u64 + 1);

        let command = ServiceCommand::new(&format!("fetcher ({site})"), &self.bins.fetcher)
            .wrapped(self.pins.wrapper(CLIENT_CORE, &[]))
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1");
        let started = Instant::now();
        let mut fetcher = Process::start(command, self.logs.join(format!("fetcher-{site}.log")))?;
        let (mut seen, mut moved_at) = (0, Instant::now());
        loop {
            tokio::time::sleep(POLL * 4).await;
            fetcher.check_running()?;
            let stored = events.info().await?.state.messages;
            if stored >= expected {
                let consumer = tasks.consumer_info(FETCHERS_CONSUMER).await?;
                if consumer.num_pending == 0 && consumer.num_ack_pending == 0 {
                    break;
                }
            }
            if stored != seen {
                (seen, moved_at) = (stored, Instant::now());
            } else if moved_at.elapsed() > STALL {
                bail!(
                    "{stored} of {expected} events after {STALL:?} without progress:\n{}",
                    fetcher.log_tail(20)
                );
            }
        }
        let elapsed = started.elapsed();
        let rss = peak_rss_kib(fetcher.pid())?;
        let status = fetcher.terminate(Duration::from_secs(30)).await?;
        anyhow::ensure!(
            status.success(),
            "the fetcher exited with {status}:\n{}",
            fetcher.log_tail(20)
        );
        let stored = events.info().await?.state.messages;
        anyhow::ensure!(
            stored == expected,
            "{stored} events stored, {expected} expected: some pages failed:\n{}",
            fetcher.log_tail(20)
        );
        Ok(Crawl {
            pages: pages as u64,
            hosts,
            elapsed,
            peak_rss_kib: rss,
        })
    }
}

/// A `[[site]]` of named pages, read like the sample site, robots.txt
/// ignored (so that the politeness state is the only state per host).
fn list_site(name: &str, pages: impl Iterator<Item = (String, String)>) -> String {
    let mut text = format!(
        "[[site]]\nname = \"{name}\"\ninterval = \"1h\"\nretention = \"7d\"\n\
         robots = \"ignore\"\ntimezone = \"{}\"\n{}[site.pages]\n",
        pagefeed_testkit::sample_site::TIMEZONE.name(),
        pagefeed_testkit::config::SAMPLE_EXTRACT,
    );
    for (id, url) in pages {
        text.push_str(&format!("{id} = \"{url}\"\n"));
    }
    text
}

/// An empty `PAGEFEED_TASKS` (and its message ids forgotten), configured
/// as `cfg` wants it.
async fn fresh_tasks(js: &jetstream::Context, cfg: &Config) -> anyhow::Result<()> {
    match js.delete_stream(TASKS_STREAM).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("not found") => {}
        Err(e) => return Err(e.into()),
    }
    ensure_streams(js, cfg).await?;
    Ok(())
}
