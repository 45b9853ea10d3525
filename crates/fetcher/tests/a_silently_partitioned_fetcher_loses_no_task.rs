//! Two fetcher processes; the first one's NATS connection goes through a TCP
//! proxy, which falls silent (the connection stays open, no byte moves) while
//! that fetcher holds tasks. The tasks it held go to the other fetcher once
//! their `ack_wait` (3 s) has passed, and every page ends with its outcome
//! while the silence lasts. After the heal no entry is stored twice (what
//! the silenced fetcher sent comes through late, under the same message
//! ids), and the healed fetcher takes tasks again: alone, it crawls a second
//! batch.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use pagefeed_events::event::Event;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::proxy::TcpProxy;
use pagefeed_testkit::sample_site::{page_kind, PageKind, SampleSite, SampleSiteOptions};
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::{publish_tasks, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;

const FETCHER: &str = env!("CARGO_BIN_EXE_pagefeed-fetcher");

/// At least this long silent: the silenced fetcher's publishes time out
/// again and again, with a growing back-off, while it holds its tasks.
const SILENT_AT_LEAST: Duration = Duration::from_secs(30);

/// The page every task of `events` ended with: crawled, unchanged or failed.
fn pages_with_an_outcome(events: &[Event]) -> HashSet<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PageCrawled(p) | Event::PageUnchanged(p) => Some(p.page.to_string()),
            Event::FetchFailed(f) => Some(f.page.to_string()),
            _ => None,
        })
        .collect()
}

/// Waits until every page of `ids` has an outcome in the stream.
async fn wait_outcomes(
    js: &async_nats::jetstream::Context,
    ids: &[u64],
    what: &str,
) -> anyhow::Result<Vec<Event>> {
    wait_for(Duration::from_secs(60), what, || async {
        let events = stored_events(js).await?;
        let ended = pages_with_an_outcome(&events);
        let all = ids.iter().all(|id| ended.contains(&format!("sample.{id}")));
        Ok(all.then_some(events))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_fetcher_hands_its_tasks_over_and_works_again() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut system = Services::start().await?;
    let site = SampleSite::start(
        "127.0.0.1:0".parse()?,
        SampleSiteOptions {
            latency: Duration::from_millis(300),
            ..SampleSiteOptions::default()
        },
    )
    .await?;
    let ids: Vec<u64> = (1..)
        .filter(|&id| page_kind(id) == PageKind::Normal)
        .take(80)
        .collect();
    let (first, second) = ids.split_at(60);
    let cfg = system.write_config(&config_text(
        &system.nats_url(),
        "",
        "[fetcher]\nack_wait = \"3s\"\n",
        &[id_site("sample", &site.url_template(), 1, 500, 1, "1h")],
    ))?;
    let js = system.jetstream().await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", system.nats().port()).parse()?).await?;

    let silenced = system
        .fetcher(FETCHER, &["--concurrency", "4", "--nats-url", &proxy.url()])?
        .name()
        .to_owned();
    publish_tasks(
        &js,
        "sample",
        &site.url_template(),
        first.iter().copied(),
        1,
    )
    .await?;
    wait_for(Duration::from_secs(30), "the first fetches", || async {
        let fetched: u64 = first.iter().map(|&id| site.requests(id)).sum();
        Ok((fetched > 0).then_some(()))
    })
    .await?;
    proxy.silence(); // with tasks in hand, fetching or publishing
    let silenced_at = Instant::now();
    let other = system
        .fetcher(FETCHER, &["--concurrency", "4"])?
        .name()
        .to_owned();

    wait_outcomes(
        &js,
        first,
        "every page of the first batch to end during the silence",
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(20)))?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(pagefeed_events::subject::TASKS_STREAM)
        .await?
        .get_consumer(pagefeed_events::streams::FETCHERS_CONSUMER)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = consumer.info().await?;
    assert!(
        info.delivered.consumer_sequence > info.delivered.stream_sequence,
        "the silenced fetcher's tasks were delivered again: {info:?}"
    );
    if let Some(rest) = SILENT_AT_LEAST.checked_sub(silenced_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    system[silenced.as_str()].check_running()?;

    // The heal; then the other fetcher stops (handing back nothing: it is
    // idle), so the second batch can only be crawled by the healed one.
    proxy.restore();
    let exit = system[other.as_str()]
        .terminate(Duration::from_secs(20))
        .await?;
    assert!(exit.success(), "the other fetcher stops cleanly: {exit}");
    publish_tasks(
        &js,
        "sample",
        &site.url_template(),
        second.iter().copied(),
        2,
    )
    .await?;
    let events = wait_outcomes(&js, &ids, "the healed fetcher to crawl the second batch")
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(20)))?;
    wait_tasks_settled(&js, Duration::from_secs(30)).await?;

    let mut times_stored: HashMap<(String, String), usize> = HashMap::new();
    for e in &events {
        if let Event::EntryObserved(entry) = e {
            *times_stored
                .entry((entry.page.to_string(), entry.id.clone()))
                .or_default() += 1;
        }
    }
    assert!(
        times_stored.len() >= ids.len() * 20,
        "every entry of every page: {}",
        times_stored.len()
    );
    let twice: Vec<_> = times_stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "entries stored more than once: {twice:?}");
    for e in &events {
        assert!(!matches!(e, Event::FetchFailed(_)), "nothing failed: {e:?}");
    }
    eprintln!(
        "{} entries, none twice; {:?} in all",
        times_stored.len(),
        started.elapsed()
    );
    Ok(())
}
