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
mod rebuild;
mod replication;
mod search;
mod text;

pub use apply::{apply_only, ApplyOptions};
pub use events::{entry_events, events_with_texts};
pub use text::{run as run_text, TextOptions};

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
    /// Stop after live replication (publishing alone, then with two nodes).
    #[arg(long)]
    pub live_only: bool,
}

/// What every step of a run uses: the binaries, a temporary directory with
/// the config, the stream, an HTTP client, and the figures so far.
struct Bench {
    bins: Binaries,
    dir: TempDir,
    /// The config file, in `dir`.
    config: PathBuf,
    cfg: Config,
    js: jetstream::Context,
    http: reqwest::Client,
    figures: Figures,
}

/// Runs everything and prints the report.
pub async fn run(options: Options, machine: Machine) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bins = Binaries::locate()?;
    let dir = tempfile::Builder::new()
        .prefix("pagefeed-bench-projector-")
        .tempdir()?;
    let nats = NatsServer::start().await?;
    let config = dir.path().join("pagefeed.toml");
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
    let mut bench = Bench {
        bins,
        dir,
        config,
        cfg,
        js,
        http: reqwest::Client::new(),
        figures: Figures::echoing(),
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
    let alone_rate = bench.publish_alone(&messages).await?;
    let nodes = bench.live_replication(&messages, alone_rate).await?;
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
