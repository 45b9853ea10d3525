//! `pagefeed-fetcher --config FILE [--concurrency N]` crawls until
//! SIGINT/SIGTERM; `pagefeed-fetcher extract --config FILE --site NAME
//! (--url URL | --file PATH)` shows what a site's selectors extract from one
//! page.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};
use pagefeed_events::cli::{cancel_on_signals, exit_with, init_tracing, load_config_or_exit};
use pagefeed_events::{NatsArgs, EXIT_BAD_CONFIG};
use pagefeed_fetcher::extract_command::{self, Source, UnknownSite};
use tokio_util::sync::CancellationToken;

/// Fetches pagefeed's pages and extracts their entries.
#[derive(Parser)]
#[command(name = "pagefeed-fetcher", version)]
struct Args {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Fetches in flight in this process (default: `fetcher.concurrency`).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch (or read) one page and print what the site's selectors extract, as JSON.
    Extract(ExtractArgs),
}

#[derive(clap::Args)]
struct ExtractArgs {
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
    let Some(config) = args.config else {
        Args::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--config FILE is required",
            )
            .exit();
    };
    let cfg = load_config_or_exit(&config, &args.nats);
    init_tracing();
    let Some(Command::Extract(extract)) = args.command else {
        if args.concurrency == Some(0) {
            eprintln!("--concurrency must be at least 1");
            std::process::exit(EXIT_BAD_CONFIG);
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signals(shutdown.clone()));
        exit_with(pagefeed_fetcher::run(cfg, args.concurrency, shutdown).await)
    };
    let source = match (extract.source.url, extract.source.file) {
        (Some(url), _) => Source::Url(url),
        (None, Some(path)) => Source::File {
            path,
            base_url: extract.base_url,
        },
        (None, None) => unreachable!("clap requires --url or --file"),
    };
    let result = extract_command::run(&cfg, &extract.site, source).await;
    if let Err(e) = &result {
        if e.is::<UnknownSite>() {
            eprintln!("{e}");
            std::process::exit(EXIT_BAD_CONFIG);
        }
    }
    exit_with(result)
}
