//! Only news is published: the second crawl of an unchanged page, even by
//! another fetcher process, publishes one `page_unchanged` event and is
//! answered 304 by the site; new entries later publish just those entries.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pagefeed_events::event::Event;
use pagefeed_events::Config;
use pagefeed_testkit::config::{config_with, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::sample_site::{posting_period, Clock, SampleSite, SampleSiteOptions};
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;

use support::spawn_fetcher;

/// Runs one fetcher until `count` events are in the stream, then stops it.
async fn crawl_with_a_fresh_fetcher(
    cfg: &Config,
    js: &async_nats::jetstream::Context,
    count: usize,
) -> anyhow::Result<Vec<Event>> {
    let fetcher = spawn_fetcher(cfg.clone());
    let events = wait_for(Duration::from_secs(30), "the crawl's events", || async {
        let events = stored_events(js).await?;
        Ok((events.len() >= count).then_some(events))
    })
    .await;
    let events = match events {
        Ok(events) => events,
        Err(e) => {
            // What did come, to tell a slow crawl from a different one.
            let seen = stored_events(js).await?;
            let tail: Vec<String> = seen.iter().skip(20).map(|e| format!("{e:?}")).collect();
            anyhow::bail!("{e}: {} events, after the 20th: {tail:#?}", seen.len());
        }
    };
    // Stopped only once the task is acked too: stopped between its events
    // and its ack, a fetcher hands the task back, and the next crawl would
    // start with it (or wait out its ack_wait, if the hand-back was lost).
    wait_tasks_settled(js, Duration::from_secs(30)).await?;
    fetcher.stop().await?;
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_crawl_on_another_process_publishes_only_news() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let now = Arc::new(AtomicI64::new(1_795_000_000));
    let opts = SampleSiteOptions {
        clock: Clock::Manual(now.clone()),
        ..SampleSiteOptions::default()
    };
    let period = posting_period(42, &opts);
    let site = SampleSite::start("127.0.0.1:0".parse()?, opts).await?;
    let cfg = config_with(
        &nats.url(),
        "",
        "",
        &[id_site("sample", &site.url_template(), 1, 500, 1, "1h")],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;

    // First crawl: 20 entries and the page.
    publish_tasks(&js, "sample", &site.url_template(), [42], 1).await?;
    let first = crawl_with_a_fresh_fetcher(&cfg, &js, 21).await?;
    let entries = first
        .iter()
        .filter(|e| matches!(e, Event::EntryObserved(_)))
        .count();
    assert_eq!(entries, 20);
    assert!(
        first
            .iter()
            .all(|e| !matches!(e, Event::EntryObserved(e) if !e.first_crawl)),
        "the first crawl's entries say so"
    );
    assert!(
        matches!(first.last(), Some(Event::PageCrawled(p)) if p.entries == 20 && p.status == 200)
    );

    // Second crawl, another fetcher, nothing new: one small event, a 304.
    publish_tasks(&js, "sample", &site.url_template(), [42], 2).await?;
    let second = crawl_with_a_fresh_fetcher(&cfg, &js, 22).await?;
    assert_eq!(second.len(), 22, "exactly one more event");
    match &second[21] {
        Event::PageUnchanged(p) => {
            assert_eq!(p.status, 304);
            assert_eq!(p.entries, 20);
            assert!(
                !p.title.is_empty(),
                "the unchanged event carries the page record"
            );
        }
        other => panic!("expected page_unchanged, got {other:?}"),
    }
    assert_eq!(
        site.not_modified(42),
        1,
        "the site answered a conditional GET"
    );

    // Two entries later: just those two and the page.
    let advance = i64::try_from(period.as_secs())? * 2 + 1;
    now.fetch_add(advance, Ordering::SeqCst);
    publish_tasks(&js, "sample", &site.url_template(), [42], 3).await?;
    let third = crawl_with_a_fresh_fetcher(&cfg, &js, 25).await?;
    let news: Vec<&Event> = third[22..].iter().collect();
    assert_eq!(news.len(), 3, "{news:?}");
    assert!(matches!(news[0], Event::EntryObserved(e) if !e.first_crawl));
    assert!(matches!(news[1], Event::EntryObserved(e) if !e.first_crawl));
    assert!(matches!(news[2], Event::PageCrawled(p) if p.entries == 20));
    Ok(())
}
