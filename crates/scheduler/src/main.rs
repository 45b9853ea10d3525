//! `pagefeed-scheduler --config FILE`: publishes crawl tasks and retention
//! events, and sweeps the task queue, until SIGINT/SIGTERM; with
//! `--sweep-only` it only sweeps. `/metrics`, `/healthz` and `/readyz` on
//! `--metrics` (default 127.0.0.1:9101).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use pagefeed_cli::observe::{listen_or_exit, serve_metrics, summarize_every};
use pagefeed_cli::{
    config_or_exit, exit_with, init_tracing, shutdown_on_signals, Listen, LogArgs, NatsArgs,
};
use pagefeed_scheduler::{Observe, Options};

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
    /// Serve /metrics, /healthz and /readyz on this address (`off`: not at
    /// all; `127.0.0.1:0`: any free port, logged).
    #[arg(
        long,
        value_name = "ADDR",
        env = "PAGEFEED_METRICS",
        default_value = "127.0.0.1:9101"
    )]
    metrics: Listen,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let options = Options {
        cfg: config_or_exit(&args.config, &args.nats),
    };
    let listener = listen_or_exit("--metrics", args.metrics).await;
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
        pagefeed_scheduler::metrics::summary(Arc::clone(&observe.metrics)),
    );
    if args.sweep_only {
        exit_with(pagefeed_scheduler::sweep_only_observed(options, observe, shutdown).await)
    } else {
        exit_with(pagefeed_scheduler::run_observed(options, observe, shutdown).await)
    }
}
