//! The system under chaos: a three-node JetStream cluster on loopback, the
//! sample site, two schedulers, three fetchers and two projectors (nodes a
//! and b, b's data on a small tmpfs when it can be mounted), every one a
//! real process logging to `<run dir>/logs/`. The cluster's routes go
//! through proxies, and each service reaches the servers through proxies of
//! its own, so that either can be partitioned (`partition.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::nats::{free_port, NatsCluster};
use pagefeed_testkit::process::{Process, ServiceCommand};
use pagefeed_testkit::projector_api::free_http;
use pagefeed_testkit::streams::jetstream_on_all;
use pagefeed_testkit::tmpfs::Tmpfs;

use super::partition::Links;
use crate::procs::Binaries;

/// How many of each service the system runs.
pub const SCHEDULERS: usize = 2;
pub const FETCHERS: usize = 3;
/// The projector nodes kept running (a third, `r`, is rebuilt at the end).
pub const NODES: [&str; 2] = ["a", "b"];
/// The node whose data directory is a tmpfs, for the full-disk fault.
pub const SMALL_DISK_NODE: &str = "b";

/// The file that fills the small disk up.
pub const FILLER: &str = "filler";

/// Where libfaketime's preload library is, by distribution.
const LIBFAKETIME: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// libfaketime's preload library, or why there is none.
pub fn libfaketime() -> Result<PathBuf, String> {
    LIBFAKETIME
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or_else(|| "libfaketime is not installed (`apt-get install faketime`)".to_owned())
}

/// What the system is asked to crawl.
#[derive(Debug, Clone)]
pub struct Crawl {
    /// Sample site ids `1..=pages`, all published at every tick.
    pub pages: u64,
    /// The site's `interval`, as the config writes it (`10s`).
    pub interval: String,
    /// The sample site's mean time between two new entries of a page.
    pub entry_period_secs: u64,
    /// The size of the tmpfs under node b's data (`256m`).
    pub small_disk: String,
}

/// A projector node the system runs.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub http: SocketAddr,
}

/// The running system: see the module documentation.
pub struct System {
    pub dir: PathBuf,
    pub bins: Binaries,
    pub config: PathBuf,
    pub cluster: NatsCluster,
    pub processes: Vec<Process>,
    pub nodes: Vec<Node>,
    pub js: jetstream::Context,
    /// The proxies each service reaches NATS through.
    pub links: Links,
    /// The tmpfs under node b's data, or why it could not be mounted.
    /// Last, so that it is unmounted after the processes are gone.
    pub small_disk: Result<Tmpfs, String>,
}

impl System {
    /// Starts everything and waits until every process is ready.
    pub async fn start(dir: &Path, bins: Binaries, crawl: &Crawl) -> anyhow::Result<System> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let cluster = NatsCluster::start_partitionable(3).await?;
        let js = jetstream_on_all(&cluster.urls()).await?;
        let logs = dir.join("logs");
        let mut processes = Vec::new();

        let site = format!("127.0.0.1:{}", free_port()?);
        let mut sample = Process::start(
            ServiceCommand::new("sample-site", &bins.sample_site)
                .args(["--listen", &site, "--entry-period-secs"])
                .arg(crawl.entry_period_secs.to_string())
                .ready_when_answers(format!("http://{site}/")),
            logs.join("sample-site.log"),
        )?;
        sample.wait_ready(Duration::from_secs(20)).await?;
        processes.push(sample);

        let config = dir.join("pagefeed.toml");
        let template = format!("http://{site}/recent_page_feed?page_id={{id}}");
        std::fs::write(
            &config,
            config_text(
                &cluster.urls(),
                "replicas = 3",
                // Sweeps often, so that a stranded task is back in the queue
                // well within the settle's 60 s of an idle consumer.
                "[scheduler]\nsweep_every = \"5s\"",
                &[id_site(
                    "sample",
                    &template,
                    1,
                    crawl.pages,
                    crawl.pages,
                    &crawl.interval,
                )],
            ),
        )?;
        pagefeed_events::Config::load(&config)
            .with_context(|| format!("the chaos config {} is invalid", config.display()))?;

        let mut links = Links::default();
        let mut names: Vec<String> = NODES.iter().map(|n| format!("projector-{n}")).collect();
        names.extend((1..=SCHEDULERS).map(|i| format!("scheduler-{i}")));
        names.extend((1..=FETCHERS).map(|i| format!("fetcher-{i}")));
        let mut urls = std::collections::BTreeMap::new();
        for name in &names {
            urls.insert(name.clone(), links.add(name, &cluster).await?);
        }
        // Every service through its own proxies (the config's URLs are the
        // servers' own, for the chaos's reads).
        let configured = |name: &str, bin: &Path| {
            ServiceCommand::new(name, bin)
                .arg("--config")
                .arg(&config)
                .args(["--nats-url", urls.get(name).map_or("", String::as_str)])
        };
        let mut nodes = Vec::new();
        let mut small_disk = Err("not mounted".to_owned());
        for node in NODES {
            let process = format!("projector-{node}");
            let data = dir.join(&process);
            if node == SMALL_DISK_NODE {
                std::fs::create_dir_all(&data)?;
                small_disk = Tmpfs::mount(&data, &crawl.small_disk);
            }
            let http = free_http()?;
            processes.push(Process::start(
                configured(&process, &bins.projector)
                    .arg("--data")
                    .arg(&data)
                    .args(["--node", node, "--http", &http.to_string()])
                    .ready_when_answers(format!("http://{http}/api/status")),
                logs.join(format!("{process}.log")),
            )?);
            nodes.push(Node {
                name: node.to_owned(),
                http,
            });
        }
        for i in 1..=SCHEDULERS {
            let name = format!("scheduler-{i}");
            processes.push(Process::start(
                configured(&name, &bins.scheduler),
                logs.join(format!("{name}.log")),
            )?);
        }
        for i in 1..=FETCHERS {
            let name = format!("fetcher-{i}");
            processes.push(Process::start(
                configured(&name, &bins.fetcher),
                logs.join(format!("{name}.log")),
            )?);
        }
        let mut system = System {
            dir: dir.to_owned(),
            bins,
            config,
            cluster,
            processes,
            nodes,
            js,
            links,
            small_disk,
        };
        for process in &mut system.processes {
            process.wait_ready(Duration::from_secs(60)).await?;
        }
        Ok(system)
    }

    /// Starts a scheduler that only sweeps the task queue
    /// (`--sweep-only`), as an operator pausing the crawl would: a task the
    /// faults stranded is still put back, or ended, while the system
    /// settles. It reaches the servers directly.
    pub fn start_sweeper(&mut self) -> anyhow::Result<()> {
        let name = "sweeper";
        self.processes.push(Process::start(
            ServiceCommand::new(name, &self.bins.scheduler)
                .arg("--config")
                .arg(&self.config)
                .arg("--sweep-only"),
            self.dir.join("logs").join(format!("{name}.log")),
        )?);
        Ok(())
    }

    /// The names of the service processes (the sample site included).
    pub fn names(&self) -> Vec<String> {
        self.processes.iter().map(|p| p.name().to_owned()).collect()
    }

    /// The process named `name`.
    pub fn process(&mut self, name: &str) -> anyhow::Result<&mut Process> {
        self.processes
            .iter_mut()
            .find(|p| p.name() == name)
            .with_context(|| format!("no process named {name}"))
    }

    /// The processes (services and nats-servers) that are not running.
    pub fn not_running(&mut self) -> Vec<String> {
        let mut down = Vec::new();
        for process in &mut self.processes {
            if !matches!(process.try_wait(), Ok(None)) {
                down.push(process.name().to_owned());
            }
        }
        for server in &mut self.cluster.servers {
            if !server.is_running() {
                down.push(format!("nats-{}", server.name()));
            }
        }
        down
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> anyhow::Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node named {name}"))
    }

    /// The server name of `stream`'s RAFT leader, as JetStream reports it.
    pub async fn stream_leader(&self, stream: &str) -> Option<String> {
        let mut handle = self.js.get_stream(stream).await.ok()?;
        let info = handle.info().await.ok()?;
        info.cluster.as_ref()?.leader.clone()
    }

    /// Whether both streams have a leader and every replica is current.
    pub async fn streams_healthy(&self) -> bool {
        for stream in [TASKS_STREAM, EVENTS_STREAM] {
            let Ok(mut handle) = self.js.get_stream(stream).await else {
                return false;
            };
            let Ok(info) = handle.info().await else {
                return false;
            };
            let Some(cluster) = info.cluster.as_ref() else {
                return false;
            };
            let replicas_ok = cluster.replicas.iter().all(|r| r.current && !r.offline);
            if cluster.leader.is_none() || cluster.replicas.len() < 2 || !replicas_ok {
                return false;
            }
        }
        true
    }

    /// Stops the node on the tmpfs (SIGTERM) and copies its data out to
    /// `<run dir>/projector-b.kept`, before the tmpfs goes: what a failed
    /// run keeps to look at. Returns where.
    pub async fn keep_small_disk(&mut self) -> anyhow::Result<PathBuf> {
        let from = match &self.small_disk {
            Ok(disk) => disk.path().to_owned(),
            Err(why) => anyhow::bail!("no small disk: {why}"),
        };
        let process = format!("projector-{SMALL_DISK_NODE}");
        self.process(&process)?
            .terminate(Duration::from_secs(30))
            .await?;
        let to = self.dir.join(format!("{process}.kept"));
        std::fs::create_dir_all(&to)?;
        for file in std::fs::read_dir(&from)? {
            let file = file?;
            if file.file_type()?.is_file() && file.file_name() != FILLER {
                std::fs::copy(file.path(), to.join(file.file_name()))?;
            }
        }
        Ok(to)
    }

    /// Copies each nats-server's log into `<run dir>/logs/` (their stores
    /// and logs are removed when the cluster is dropped).
    pub fn save_nats_logs(&self) {
        for server in &self.cluster.servers {
            let to = self
                .dir
                .join("logs")
                .join(format!("nats-{}.log", server.name()));
            let _ = std::fs::copy(server.log_path(), to);
        }
    }
}
