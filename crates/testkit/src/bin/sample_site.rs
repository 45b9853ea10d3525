//! `pagefeed-sample-site`: serves the sample site (mixi-like pages, one per
//! id, including the failure modes) until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use pagefeed_testkit::sample_site::{SampleSite, SampleSiteOptions};
use tracing_subscriber::EnvFilter;

/// Serves mixi-like "recent page feed" pages for the pagefeed demo and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "pagefeed-sample-site", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the line printed on
    /// start says which).
    #[arg(
        long,
        env = "PAGEFEED_SAMPLE_SITE_LISTEN",
        default_value = "127.0.0.1:8700"
    )]
    listen: SocketAddr,
    /// Delay added before each page response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Mean time between two new entries of a page, in seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    entry_period_secs: u64,
    /// Pause inside the body of the slow pages (id % 100 == 17), in seconds.
    #[arg(long, default_value_t = 10)]
    slow_body_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Logs go to stderr: stdout carries only the "listening" line.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let opts = SampleSiteOptions {
        latency: Duration::from_millis(args.latency_ms),
        slow_body: Duration::from_secs(args.slow_body_secs),
        entry_period: Duration::from_secs(args.entry_period_secs),
        ..SampleSiteOptions::default()
    };
    let site = SampleSite::start(args.listen, opts)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("sample site listening on http://{}", site.addr());
    wait_for_signal().await.context("cannot wait for signals")?;
    tracing::info!("stopping");
    site.shutdown().await;
    Ok(())
}

/// Returns on SIGINT or SIGTERM.
async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            res = tokio::signal::ctrl_c() => res,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
