//! Two projectors fed by a real crawl of the sample site (fetcher, NATS,
//! retention event included) reach equal digests at equal sequences, and a
//! third started from scratch afterwards (a rebuild by replay) equals them.

use std::path::Path;
use std::time::Duration;

use pagefeed_events::event::{Event, Retention};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::Config;
use pagefeed_projector::store::Store;
use pagefeed_projector::store_path;
use pagefeed_testkit::sample_site::{page_kind, PageKind};
use pagefeed_testkit::streams::{publish_tasks, wait_tasks_ended};
use tokio_util::sync::CancellationToken;

mod node;

/// The node's digest once it has applied `seq`.
async fn digest_at(cfg: &Config, data: &Path, name: &str, seq: u64) -> anyhow::Result<String> {
    node::run_until_applied(cfg, data, name, seq).await?;
    let path = store_path(data);
    let (applied, digest) =
        tokio::task::spawn_blocking(move || Store::open(&path)?.digest()).await??;
    assert_eq!(applied, seq, "node {name} applied exactly the stream");
    Ok(digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_and_a_rebuilt_node_have_equal_digests() -> anyhow::Result<()> {
    let (_nats, site, cfg, js) = node::with_sample_site().await?;
    let dirs = tempfile::tempdir()?;

    // Two nodes run while the crawl happens.
    let a = node::Node::start(&cfg, &dirs.path().join("a"), "a")?;
    let b = node::Node::start(&cfg, &dirs.path().join("b"), "b")?;
    let fetcher = node::spawn_fetcher(&cfg);
    let ids: Vec<u64> = (1..=40).collect();
    publish_tasks(&js, "sample", &site.url_template(), ids.iter().copied(), 1).await?;
    let failing = ids
        .iter()
        .filter(|&&id| page_kind(id) != PageKind::Normal)
        .count();
    assert!(failing > 0, "the crawl includes failing pages");
    wait_tasks_ended(&js, 40, Duration::from_secs(60)).await?;
    fetcher.stop().await?;
    // A retention event that removes nothing yet, and one garbage message.
    let retention = Event::Retention(Retention {
        site: "sample".into(),
        cutoff: "2020-01-01T00:00:00Z".parse()?,
        keep_secs: 86_400,
        except: Vec::new(),
    });
    publish_all(
        &js,
        &[Outgoing::from(&retention)],
        &CancellationToken::new(),
    )
    .await?;
    js.publish("pagefeed.events.page_crawled.sample.999", "garbage".into())
        .await?
        .await?;
    let last = pagefeed_testkit::streams::events_last_seq(&js).await?;
    assert!(last > 40, "the crawl published events");
    a.stop().await?;
    b.stop().await?;

    let digest_a = digest_at(&cfg, &dirs.path().join("a"), "a", last).await?;
    let digest_b = digest_at(&cfg, &dirs.path().join("b"), "b", last).await?;
    let digest_c = digest_at(&cfg, &dirs.path().join("c"), "c", last).await?;
    assert_eq!(digest_a, digest_b, "two replicas agree");
    assert_eq!(digest_a, digest_c, "a node rebuilt from the stream agrees");
    Ok(())
}
