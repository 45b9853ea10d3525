//! The projector benchmark (docs/BENCHMARKS.md, "Projector", lists its
//! steps): [`run`] takes one fresh nats-server through them, each step in
//! the file named for it, and prints one table of figures against targets.

use std::path::PathBuf;

use async_nats::jetstream;
use pagefeed_events::Config;
use pagefeed_testkit::nats::NatsServer;
use tempfile::TempDir;

use crate::procs::{Binaries, Machine};
use crate::report::{heading, Figures};

mod apply;
pub mod corpus;
mod events;
mod nodes;
mod null_nodes;
mod rebuild;
mod replication;
mod search;
mod text;

pub use apply::{apply_only, ApplyOptions};
pub use events::{entry_events, events_with_texts};
pub use null_nodes::{null_node, NullNodeOptions};
pub use text::{run as run_text, TextOptions};

/// A fresh nats-server with pagefeed's streams, and the config file (in
/// `dir`) that the projector processes of a run read: one site, the sample
/// site's ids, on a port where nothing is fetched.
struct Streams {
    nats: NatsServer,
    config: PathBuf,
    cfg: Config,
    js: jetstream::Context,
}

impl Streams {
    async fn start(dir: &std::path::Path) -> anyhow::Result<Streams> {
        let nats = NatsServer::start().await?;
        let config = dir.join("pagefeed.toml");
        std::fs::write(
            &config,
            pagefeed_testkit::config::config_text(
                &nats.url(),
                "",
                "",
                &[pagefeed_testkit::config::id_site(
                    "sample",
                    "http://127.0.0.1:9/{id}",
                    1,
                    1_000_000,
                    100,
                    "1h",
                )],
            ),
        )?;
        let cfg = Config::load(&config)?;
        let js = pagefeed_testkit::streams::jetstream_at(&nats.url()).await?;
        pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
        Ok(Streams {
            nats,
            config,
            cfg,
            js,
        })
    }
}

/// `pagefeed-bench projector` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Entry events published for the replication, search and rebuild runs.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub events: usize,
    /// Searches timed.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub searches: usize,
    /// Events per second of the lag run.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub lag_rate: u64,
    /// Seconds of the lag run.
    #[arg(long, default_value_t = 20, value_name = "S")]
    pub lag_seconds: u64,
    /// Stop after live replication (publishing alone, with two null nodes,
    /// then with two projectors).
    #[arg(long)]
    pub live_only: bool,
    /// Only publish the events, then read them raw, rebuild from them and
    /// apply them in-process (steps 4 to 6): the rebuild against its limit.
    #[arg(long, conflicts_with = "live_only")]
    pub rebuild_only: bool,
}

/// What every step of a run uses: the binaries, a temporary directory with
/// the config, the stream, an HTTP client, and the figures so far.
struct Bench {
    bins: Binaries,
    dir: TempDir,
    /// The nats-server's URL, and its pid (for its CPU time) if found.
    nats_url: String,
    nats_pid: Option<u32>,
    /// The config file, in `dir`.
    config: PathBuf,
    cfg: Config,
    js: jetstream::Context,
    http: reqwest::Client,
    figures: Figures,
    /// The machine's cores, for the CPU time available to a step.
    cores: usize,
}

/// CPU time used by the processes of a step, from snapshots taken before
/// and after it: the machine's limit made visible (docs/BENCHMARKS.md,
/// "Live replication against its limit").
struct CpuUse {
    /// (name, pid, CPU time at the start) of each process still running.
    procs: Vec<(String, u32, std::time::Duration)>,
    started: std::time::Instant,
}

impl CpuUse {
    /// Takes the start snapshot of nats-server (if found), this process
    /// (the publisher) and `others`.
    fn start(nats_pid: Option<u32>, others: &[(&str, u32)]) -> CpuUse {
        CpuUse::start_as("publisher", nats_pid, others)
    }

    /// [`CpuUse::start`], this process named `this`.
    fn start_as(this: &str, nats_pid: Option<u32>, others: &[(&str, u32)]) -> CpuUse {
        let mut named: Vec<(String, u32)> = Vec::new();
        if let Some(pid) = nats_pid {
            named.push(("nats-server".to_owned(), pid));
        }
        named.push((this.to_owned(), std::process::id()));
        named.extend(others.iter().map(|(n, p)| ((*n).to_owned(), *p)));
        CpuUse {
            procs: named
                .into_iter()
                .filter_map(|(n, pid)| Some((n, pid, crate::procs::cpu_time(pid).ok()?)))
                .collect(),
            started: std::time::Instant::now(),
        }
    }

    /// "name X s, ... of Y s available" since the start, with `extra`
    /// (processes that reported their own time) added.
    fn finish(&self, extra: &[(String, std::time::Duration)], cores: usize) -> String {
        let mut parts: Vec<String> = self
            .procs
            .iter()
            .map(|(name, pid, before)| {
                let used = crate::procs::cpu_time(*pid)
                    .map(|t| t.saturating_sub(*before).as_secs_f64())
                    .unwrap_or(f64::NAN);
                format!("{name} {used:.1}")
            })
            .collect();
        parts.extend(
            extra
                .iter()
                .map(|(name, t)| format!("{name} {:.1}", t.as_secs_f64())),
        );
        format!(
            "{} CPU-s, of {:.1} available",
            parts.join(", "),
            self.started.elapsed().as_secs_f64() * cores as f64
        )
    }
}

/// Runs everything and prints the report.
pub async fn run(options: Options, machine: Machine) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bins = Binaries::locate()?;
    let dir = tempfile::Builder::new()
        .prefix("pagefeed-bench-projector-")
        .tempdir()?;
    let Streams {
        nats,
        config,
        cfg,
        js,
    } = Streams::start(dir.path()).await?;
    let mut bench = Bench {
        bins,
        dir,
        nats_url: nats.url(),
        nats_pid: crate::procs::pid_with_arg(
            &nats
                .log_path()
                .with_file_name("nats.conf")
                .to_string_lossy(),
        ),
        config,
        cfg,
        js,
        http: reqwest::Client::new(),
        figures: Figures::echoing(),
        cores: machine.cores,
    };
    let head = format!(
        "{}{} entry events, {} searches, lag run {} events/s for {} s\n",
        heading("projector", &machine, "no pinning"),
        options.events,
        options.searches,
        options.lag_rate,
        options.lag_seconds
    );

    eprintln!("generating {} entry events ...", options.events);
    let messages = entry_events(options.events, 0);
    if options.rebuild_only {
        eprintln!("publishing {} events ...", messages.len());
        crate::publish::publish(&bench.js, &messages).await?;
        let (raw_rate, payloads) = bench.rebuild_against_raw_read().await?;
        bench.apply_split(&payloads, raw_rate)?;
        print!("{head}\n{}", bench.figures.render());
        return Ok(());
    }
    let alone_rate = bench.publish_alone(&messages).await?;
    let ceiling = bench.null_node_ceiling(&messages).await?;
    let nodes = bench
        .live_replication(&messages, alone_rate, ceiling)
        .await?;
    if !options.live_only {
        bench.search(&nodes[0], &messages, options.searches).await?;
        bench.lag(&nodes, &options).await?;
    }
    bench.stop_nodes(nodes)?;
    if !options.live_only {
        let (raw_rate, payloads) = bench.rebuild_against_raw_read().await?;
        bench.apply_split(&payloads, raw_rate)?;
    }
    print!("{head}\n{}", bench.figures.render());
    Ok(())
}
