//! A projector node silently partitioned from NATS (a TCP proxy between
//! them keeps its connection open but moves no byte for 35 s, as when
//! packets are dropped) while a real crawl of the sample site goes on:
//! during the silence it applies nothing new while a node connected
//! directly does; once the network is back it catches up by itself, on the
//! connection it held or a new one, and both nodes end at the same sequence
//! with equal digests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pagefeed_testkit::proxy::TcpProxy;
use pagefeed_testkit::sample_site::{page_kind, PageKind, SampleSite};
use pagefeed_testkit::streams::{publish_tasks, wait_tasks_ended};

mod node;
use node::{http_client, spawn_fetcher, stream_last_seq, Node};

/// How long the silence lasts at least: past the three missed heartbeats
/// (each after two 5 s idle heartbeats) after which the replication loop
/// sets its consumer up again, over a connection that answers nothing.
const SILENT_AT_LEAST: Duration = Duration::from_secs(35);
const APPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Publishes crawl tasks for `ids` and waits until the fetcher has ended
/// every task published so far (`tasks` of them).
async fn crawl(
    js: &async_nats::jetstream::Context,
    site: &SampleSite,
    ids: &[u64],
    tasks: &mut u64,
) -> anyhow::Result<()> {
    publish_tasks(js, "sample", &site.url_template(), ids.iter().copied(), 1).await?;
    *tasks += ids.len() as u64;
    wait_tasks_ended(js, *tasks, Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_partitioned_node_catches_up_without_a_restart() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let started = Instant::now();
    let (nats, site, cfg, js) = node::with_sample_site().await?;
    let proxy = TcpProxy::start(SocketAddr::from(([127, 0, 0, 1], nats.port()))).await?;
    let mut behind_proxy = cfg.clone();
    behind_proxy.nats.url = proxy.url();
    let ids: Vec<u64> = (1..)
        .filter(|&id| page_kind(id) == PageKind::Normal)
        .take(90)
        .collect();
    let client = http_client();
    let dirs = tempfile::tempdir()?;

    let a = Node::start(&behind_proxy, &dirs.path().join("a"), "a")?;
    let b = Node::start(&cfg, &dirs.path().join("b"), "b")?;
    let fetcher = spawn_fetcher(&cfg);
    let mut tasks = 0;

    crawl(&js, &site, &ids[..30], &mut tasks).await?;
    let before = stream_last_seq(&js).await?;
    assert!(before > 30, "the first part of the crawl published events");
    a.wait_applied(&client, before, APPLY_TIMEOUT).await?;
    b.wait_applied(&client, before, APPLY_TIMEOUT).await?;

    // The silence: the crawl goes on, node b follows it, node a hears nothing.
    proxy.silence();
    let silenced_at = Instant::now();
    crawl(&js, &site, &ids[30..60], &mut tasks).await?;
    let during = stream_last_seq(&js).await?;
    assert!(
        during > before,
        "the crawl published events during the silence"
    );
    b.wait_applied(&client, during, APPLY_TIMEOUT).await?;
    if let Some(rest) = SILENT_AT_LEAST.checked_sub(silenced_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let silenced = a.status(&client).await?;
    assert_eq!(
        silenced.applied_seq, before,
        "node a applied nothing published during the silence"
    );
    assert!(a.is_running(), "node a keeps running through the silence");

    // The network comes back while the crawl goes on.
    proxy.restore();
    crawl(&js, &site, &ids[60..], &mut tasks).await?;
    let last = stream_last_seq(&js).await?;
    assert!(
        last > during,
        "the crawl published events after the silence"
    );
    let caught_up = a.wait_applied(&client, last, APPLY_TIMEOUT).await?;
    let reference = b.wait_applied(&client, last, APPLY_TIMEOUT).await?;
    assert_eq!(caught_up.entries, reference.entries);
    assert_eq!(caught_up.pages, 90, "every crawled page is in node a");
    assert!(a.is_running(), "node a caught up without a restart");

    fetcher.stop().await?;
    let (seq_a, digest_a) = a.stop().await?;
    let (seq_b, digest_b) = b.stop().await?;
    assert_eq!((seq_a, seq_b), (last, last));
    assert_eq!(digest_a, digest_b, "the healed node equals the reference");
    eprintln!(
        "silenced for {:?}; node a caught up to {last}; {:?} in all",
        SILENT_AT_LEAST,
        started.elapsed()
    );
    Ok(())
}
