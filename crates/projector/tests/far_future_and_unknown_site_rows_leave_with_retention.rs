//! Invariant 4 against what a publisher may claim: a live node applies an
//! entry and a page dated 2100, pages and entries of a site that is not in
//! the configuration (one of them a failure dated 2100), then the
//! scheduler's retention events for the site and for every other site. The
//! stream is then purged of everything before the events that followed
//! retention, as `max_age` would, and a node rebuilt from what remains has
//! the live node's digest: retention deleted every row whose event left the
//! stream, the far-future and unknown-site ones included (each time is
//! bounded by when JetStream stored its event).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pagefeed_events::event::{EntryObserved, FetchFailed, PageRecord};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Event;
use pagefeed_projector::rebuild::{rebuild, RebuildOptions};
use pagefeed_projector::store::Store;
use pagefeed_projector::store_path;
use pagefeed_scheduler::plan::{retention_for_slot, retention_of_other_sites, Slots};
use tokio_util::sync::CancellationToken;

mod node;
use node::{http_client, publish, with_streams, Node};

const FAR_FUTURE: &str = "2100-01-01T00:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a time")
}

fn crawled(page: &str, when: DateTime<Utc>) -> Event {
    Event::PageCrawled(PageRecord {
        page: page.parse().expect("a page key"),
        url: format!("http://127.0.0.1:9/{page}"),
        title: format!("page {page}"),
        crawled_at: when,
        status: 200,
        entries: 1,
    })
}

fn observed(page: &str, id: &str, when: DateTime<Utc>) -> Event {
    Event::EntryObserved(EntryObserved {
        page: page.parse().expect("a page key"),
        id: id.into(),
        text: format!("{id}: 今日は渋谷へ"),
        timestamp: None,
        link: None,
        observed_at: when,
        first_crawl: false,
    })
}

fn failed(page: &str, when: DateTime<Utc>) -> Event {
    Event::FetchFailed(FetchFailed {
        page: page.parse().expect("a page key"),
        url: format!("http://127.0.0.1:9/{page}"),
        failed_at: when,
        reason: "http_status".into(),
        detail: "404 Not Found".into(),
        status: Some(404),
        attempts: 5,
    })
}

/// When JetStream stored message `seq`.
async fn stored_at(js: &async_nats::jetstream::Context, seq: u64) -> anyhow::Result<DateTime<Utc>> {
    let time = js
        .get_stream(EVENTS_STREAM)
        .await?
        .get_raw_message(seq)
        .await?
        .time;
    DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond())
        .ok_or_else(|| anyhow::anyhow!("message {seq} has no time"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rebuilt_after_a_purge_equals_the_live_one() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let client = http_client();
    let dirs = tempfile::tempdir()?;
    let live = Node::start(&cfg, &dirs.path().join("live"), "live")?;

    let now = Utc::now();
    let far = at(FAR_FUTURE);
    let before = vec![
        crawled("sample.1", now),
        observed("sample.1", "today", now),
        observed("sample.1", "future", far),
        crawled("sample.2", far),
        crawled("gone.1", now),
        observed("gone.1", "unconfigured", now),
        observed("gone.1", "unconfigured-future", far),
        failed("gone.2", far),
    ];
    let last_before = publish(&js, &before).await?;

    // The cutoff: the first whole second after the last of them was stored,
    // as the scheduler computes it 7 days (the longest retention) later,
    // with a retention period of one second.
    let cutoff = stored_at(&js, last_before).await?.timestamp() + 1;
    let slots = Slots::new(Duration::from_secs(1));
    let slot = cutoff + 7 * 86_400;
    let retention = [
        retention_for_slot(&cfg.sites[0], slots, slot),
        retention_of_other_sites(&cfg, slots, slot),
    ];
    for event in &retention {
        let Event::Retention(r) = event else {
            panic!("not a retention event")
        };
        assert_eq!(r.cutoff.timestamp(), cutoff);
    }
    publish(&js, &retention).await?;

    // What follows retention is stored after the cutoff and stays.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Utc::now().timestamp() < cutoff {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the clock did not pass the cutoff"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = vec![
        crawled("sample.3", Utc::now()),
        observed("sample.3", "kept", Utc::now()),
        observed("sample.1", "future-kept", far),
        observed("gone.3", "unconfigured-kept", Utc::now()),
    ];
    let first_after = last_before + retention.len() as u64 + 1;
    let last = publish(&js, &after).await?;
    assert_eq!(last, first_after + after.len() as u64 - 1);
    assert!(stored_at(&js, first_after).await?.timestamp() >= cutoff);

    let status = live
        .wait_applied(&client, last, Duration::from_secs(30))
        .await?;
    assert_eq!(status.rejected, 0, "{status:?}");
    let live_digest = live.stop().await?;

    // Only what followed retention is left.
    {
        let store = Store::open(&store_path(&dirs.path().join("live")))?;
        let pages: Vec<String> = store.pages()?.into_iter().map(|p| p.key).collect();
        assert_eq!(pages, ["sample.3"]);
        let ids = |page: &str| -> anyhow::Result<Vec<String>> {
            Ok(store
                .page_entries(page, 10)?
                .into_iter()
                .map(|e| e.id)
                .collect())
        };
        assert_eq!(ids("sample.1")?, ["future-kept"]);
        assert_eq!(ids("sample.3")?, ["kept"]);
        assert!(ids("gone.1")?.is_empty());
        assert_eq!(ids("gone.3")?, ["unconfigured-kept"]);
        assert_eq!(store.counts()?.entries, 3);
    }

    // `max_age` takes everything before `first_after` out of the stream.
    let mut stream = js.get_stream(EVENTS_STREAM).await?;
    stream.purge().sequence(first_after).await?;
    assert_eq!(stream.info().await?.state.first_sequence, first_after);

    let rebuilt = rebuild(
        RebuildOptions {
            cfg: cfg.clone(),
            data: dirs.path().join("rebuilt"),
            node: "rebuilt".to_owned(),
            idle: Duration::from_secs(3600),
            progress: Box::new(|_| {}),
        },
        CancellationToken::new(),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("the rebuild was cancelled"))?;
    assert_eq!(rebuilt.first_seq, first_after);
    assert_eq!((rebuilt.applied_seq, rebuilt.digest), live_digest);
    Ok(())
}
