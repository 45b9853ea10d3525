//! `pagefeed-scheduler --config FILE`: publishes crawl tasks and retention
//! events, and sweeps the task queue, until SIGINT/SIGTERM; with
//! `--sweep-only` it only sweeps.

use std::path::PathBuf;

use clap::Parser;
use pagefeed_cli::{config_or_exit, exit_with, init_tracing, shutdown_on_signals, NatsArgs};
use pagefeed_scheduler::Options;

/// Publishes pagefeed's crawl tasks every interval and retention events on a fixed period.
#[derive(Parser)]
#[command(name = "pagefeed-scheduler", version)]
struct Args {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE")]
    config: PathBuf,
    /// Publish nothing: only sweep `PAGEFEED_TASKS`, so that tasks no
    /// fetcher will get still end as events while the crawl is paused.
    #[arg(long)]
    sweep_only: bool,
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let options = Options {
        cfg: config_or_exit(&args.config, &args.nats),
    };
    init_tracing();
    let shutdown = shutdown_on_signals();
    if args.sweep_only {
        exit_with(pagefeed_scheduler::sweep_only(options, shutdown).await)
    } else {
        exit_with(pagefeed_scheduler::run(options, shutdown).await)
    }
}
