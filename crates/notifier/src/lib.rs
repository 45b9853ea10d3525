//! The notifier: follows `PAGEFEED_EVENTS` through one durable consumer per
//! `[[notify]]` destination, shared by every notifier process, and sends
//! each new entry (never one of a page's first crawl, never a backlog from
//! before the consumer existed) to its webhook or ntfy topic, at least
//! once, with the event's message id as idempotency key.

pub mod follow;
pub mod http;
pub mod notification;
pub mod send;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use pagefeed_cli::Readiness;
use pagefeed_events::streams::{ensure_stream, events_stream, until_provisioned};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Config;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

use crate::follow::{follow, Destination};
use crate::send::Sender;
use crate::stats::{DestinationStats, Stats};

/// What a notifier runs with.
pub struct Options {
    pub cfg: Config,
    /// Where a destination's consumer starts when this process creates it:
    /// this stream sequence (`None`: with the first entry stored after it).
    /// An existing consumer keeps its position.
    pub from_seq: Option<u64>,
    /// Serve `/status`, `/metrics`, `/healthz` and `/readyz` here.
    pub http: Option<SocketAddr>,
    /// How often the summary line (deliveries per minute) is logged; zero:
    /// never.
    pub summary_every: Duration,
}

/// Sends notifications until `shutdown` is cancelled.
pub async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Options {
        cfg,
        from_seq,
        http,
        summary_every,
    } = options;
    anyhow::ensure!(
        !cfg.notify.is_empty(),
        "{} has no [[notify]] destination: there is nowhere to send",
        cfg.path.display()
    );
    let stats = Stats(
        cfg.notify
            .iter()
            .map(|n| Arc::new(DestinationStats::new(n)))
            .collect(),
    );
    let tracker = TaskTracker::new();
    let http_stop = shutdown.child_token();
    let readiness = Readiness::default();
    if let Some(addr) = http {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("--http {addr}: cannot listen there (is another service on that port?)")
        })?;
        info!(http = %listener.local_addr()?, "serving /status, /metrics, /healthz and /readyz");
        let (stats, readiness, stop) = (stats.clone(), readiness.clone(), http_stop.clone());
        tracker.spawn(async move {
            if let Err(e) = http::serve(listener, stats, readiness, stop).await {
                error!(error = %e, "the status server stopped");
            }
        });
    }
    let client = pagefeed_events::connect(&cfg.nats, "pagefeed-notifier").await?;
    let js = jetstream::new(client.clone());
    let provisioned =
        until_provisioned(&shutdown, || ensure_stream(&js, events_stream(&cfg))).await?;
    pagefeed_cli::observe::summarize_every(
        summary_every,
        shutdown.child_token(),
        stats::summary(stats.clone()),
    );
    if provisioned.is_some() {
        readiness.watch(&client, &[EVENTS_STREAM]);
        let sender = Arc::new(Sender::new(&cfg.notifier)?);
        let cfg = Arc::new(cfg);
        info!(destinations = cfg.notify.len(), "notifier started");
        let mut followers = Vec::new();
        for (notify, stats) in cfg.notify.iter().zip(&stats.0) {
            let destination = Destination {
                notify: notify.clone(),
                cfg: cfg.clone(),
                js: js.clone(),
                sender: sender.clone(),
                stats: stats.clone(),
                start_seq: from_seq,
                shutdown: shutdown.clone(),
                hand_back: CancellationToken::new(),
            };
            let name = notify.name.clone();
            followers.push(tokio::spawn(async move {
                let outcome = follow(destination).await;
                if let Err(e) = &outcome {
                    error!(destination = %name, error = %e, "stopped following");
                }
                outcome
            }));
        }
        for follower in followers {
            follower.await??;
        }
    }
    tracker.close();
    http_stop.cancel();
    tracker.wait().await;
    pagefeed_events::close(&client).await;
    info!("notifier stopped");
    Ok(())
}
