//! `pagefeed-scheduler --config FILE`: publishes crawl tasks and retention
//! events until SIGINT/SIGTERM.

use std::path::PathBuf;

use clap::Parser;
use pagefeed_events::cli::{cancel_on_signals, exit_with, init_tracing, load_config_or_exit};
use pagefeed_events::NatsArgs;
use tokio_util::sync::CancellationToken;

/// Publishes pagefeed's crawl tasks every interval and retention events on a fixed period.
#[derive(Parser)]
#[command(name = "pagefeed-scheduler", version)]
struct Args {
    /// The pagefeed config file (TOML).
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE")]
    config: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cfg = load_config_or_exit(&args.config, &args.nats);
    init_tracing();
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signals(shutdown.clone()));
    exit_with(pagefeed_scheduler::run(cfg, shutdown).await)
}
