//! `pagefeed-notifier --config FILE [--http ADDR] [--from-seq N]` sends new
//! entries to the configured destinations until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use pagefeed_cli::{
    config_or_exit, exit_with, init_tracing, refuse, shutdown_on_signals, LogArgs, NatsArgs,
};
use pagefeed_notifier::Options;

/// Sends pagefeed's new entries to webhooks and ntfy topics.
#[derive(Parser)]
#[command(name = "pagefeed-notifier", version)]
struct Args {
    /// The pagefeed config file (TOML), with its [[notify]] destinations.
    #[arg(long, env = "PAGEFEED_CONFIG", value_name = "FILE")]
    config: PathBuf,
    /// Serve `/status` (JSON), `/metrics` (Prometheus), `/healthz` and
    /// `/readyz` on this address.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// A destination whose consumer does not exist yet starts at this
    /// stream sequence (default: with the first entry stored after it is
    /// created, so no backlog is sent). An existing consumer keeps its
    /// position.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    from_seq: Option<u64>,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cfg = config_or_exit(&args.config, &args.nats);
    if cfg.notify.is_empty() {
        refuse(format!(
            "{} has no [[notify]] destination: there is nowhere to send",
            args.config.display()
        ));
    }
    init_tracing(args.log.log_format);
    let options = Options {
        cfg,
        from_seq: args.from_seq,
        http: args.http,
        summary_every: args.log.summary_every,
    };
    exit_with(pagefeed_notifier::run(options, shutdown_on_signals()).await)
}
