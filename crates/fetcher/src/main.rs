//! `pagefeed-fetcher --config FILE [--concurrency N]` crawls until
//! SIGINT/SIGTERM; `pagefeed-fetcher extract --config FILE --site NAME
//! (--url URL | --file PATH)` shows what a site's selectors extract from one
//! page. `/metrics`, `/healthz` and `/readyz` on `--metrics` (default
//! 127.0.0.1:9102; a second fetcher on the machine needs another address,
//! `127.0.0.1:0` for any free port, or `off`).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use pagefeed_cli::observe::{listen_or_exit, serve_metrics, summarize_every};
use pagefeed_cli::{
    config_or_exit, exit_with, init_tracing, refuse, shutdown_on_signals, Listen, LogArgs, NatsArgs,
};
use pagefeed_fetcher::extract_command::{inspect, Source, UnknownSite};
use pagefeed_fetcher::{Observe, Options};

/// Fetches pagefeed's pages and extracts their entries.
#[derive(Parser)]
#[command(
    name = "pagefeed-fetcher",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(flatten)]
    crawl: CrawlArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Crawling, what the binary does without a subcommand.
#[derive(clap::Args)]
struct CrawlArgs {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE", required = true)]
    config: Option<PathBuf>,
    /// Fetches in flight in this process (default: `fetcher.concurrency`).
    #[arg(long, value_name = "N")]
    concurrency: Option<NonZeroUsize>,
    /// Serve /metrics, /healthz and /readyz on this address (`off`: not at
    /// all; `127.0.0.1:0`: any free port, logged; a second fetcher on the
    /// same machine needs one of those or an address of its own).
    #[arg(
        long,
        value_name = "ADDR",
        env = "PAGEFEED_METRICS",
        default_value = "127.0.0.1:9102"
    )]
    metrics: Listen,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch (or read) one page and print what the site's selectors extract, as JSON.
    Extract(ExtractArgs),
}

#[derive(clap::Args)]
struct ExtractArgs {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE")]
    config: PathBuf,
    /// The site whose selectors to use.
    #[arg(long, value_name = "NAME")]
    site: String,
    #[command(flatten)]
    source: SourceArgs,
    /// With --file: the URL the page was saved from, to make links absolute.
    #[arg(long, value_name = "URL", requires = "file")]
    base_url: Option<String>,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct SourceArgs {
    /// Fetch this URL.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Read a saved page.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match args.command {
        None => {
            let Some(config) = args.crawl.config else {
                unreachable!("clap requires --config without a subcommand")
            };
            let options = Options {
                cfg: config_or_exit(&config, &args.nats),
                concurrency: args.crawl.concurrency.map(NonZeroUsize::get),
            };
            let listener = listen_or_exit("--metrics", args.crawl.metrics).await;
            init_tracing(args.log.log_format);
            let shutdown = shutdown_on_signals();
            let observe = Observe::default();
            serve_metrics(
                listener,
                |registry| observe.metrics.register(registry),
                observe.readiness.clone(),
                shutdown.child_token(),
            );
            summarize_every(
                args.log.summary_every,
                shutdown.child_token(),
                pagefeed_fetcher::metrics::summary(Arc::clone(&observe.metrics)),
            );
            exit_with(pagefeed_fetcher::run_observed(options, observe, shutdown).await)
        }
        Some(Command::Extract(extract)) => {
            let cfg = config_or_exit(&extract.config, &args.nats);
            init_tracing(args.log.log_format);
            let source = match (extract.source.url, extract.source.file) {
                (Some(url), _) => Source::Url(url),
                (None, Some(path)) => Source::File {
                    path,
                    base_url: extract.base_url,
                },
                (None, None) => unreachable!("clap requires --url or --file"),
            };
            let report = match inspect(&cfg, &extract.site, source).await {
                Err(e) if e.is::<UnknownSite>() => refuse(e),
                other => other,
            };
            exit_with(report.and_then(|report| {
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(())
            }))
        }
    }
}
