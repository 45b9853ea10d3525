//! 300 pages crawled by two fetcher processes, one of them killed with
//! SIGKILL halfway and not restarted: every page ends with its events, and
//! every entry is stored in the stream exactly once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use pagefeed_events::event::Event;
use pagefeed_testkit::config::{config_text, id_site};
use pagefeed_testkit::sample_site::{page_kind, PageKind, SampleSite, SampleSiteOptions};
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::{publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;

const FETCHER: &str = env!("CARGO_BIN_EXE_pagefeed-fetcher");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_fetcher_loses_nothing_and_duplicates_nothing() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let site = SampleSite::start(
        "127.0.0.1:0".parse()?,
        SampleSiteOptions {
            latency: Duration::from_millis(100),
            ..SampleSiteOptions::default()
        },
    )
    .await?;
    let ids: Vec<u64> = (1..)
        .filter(|&id| page_kind(id) == PageKind::Normal)
        .take(300)
        .collect();
    let cfg = system.write_config(&config_text(
        &system.nats_url(),
        "",
        "[fetcher]\nack_wait = \"2s\"\n",
        &[id_site("sample", &site.url_template(), 1, 500, 1, "1h")],
    ))?;
    let js = system.jetstream().await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    publish_tasks(&js, "sample", &site.url_template(), ids.iter().copied(), 1).await?;

    let doomed = system
        .fetcher(FETCHER, &["--concurrency", "4"])?
        .name()
        .to_owned();
    let survivor = system
        .fetcher(FETCHER, &["--concurrency", "4"])?
        .name()
        .to_owned();

    // Halfway by the site's own count of requests (cheap to read often).
    wait_for(
        Duration::from_secs(60),
        "half the pages fetched",
        || async {
            let fetched: u64 = ids.iter().map(|&id| site.requests(id)).sum();
            Ok((fetched >= 150).then_some(()))
        },
    )
    .await?;
    system[doomed.as_str()].kill()?; // SIGKILL, mid-task

    let events = wait_for(Duration::from_secs(90), "every page crawled", || async {
        let events = stored_events(&js).await?;
        let crawled: HashSet<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::PageCrawled(p) => Some(p.page.to_string()),
                _ => None,
            })
            .collect();
        Ok((crawled.len() == ids.len()).then_some(events))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}\nsurvivor log:\n{}",
            system[survivor.as_str()].log_tail(20)
        )
    })?;

    let mut times_stored: HashMap<(String, String), usize> = HashMap::new();
    for e in &events {
        if let Event::EntryObserved(entry) = e {
            *times_stored
                .entry((entry.page.to_string(), entry.id.clone()))
                .or_default() += 1;
        }
    }
    assert_eq!(
        times_stored.len(),
        ids.len() * 20,
        "every entry of every page"
    );
    let twice: Vec<_> = times_stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "entries stored more than once: {twice:?}");
    for e in &events {
        assert!(!matches!(e, Event::FetchFailed(_)), "nothing failed: {e:?}");
    }
    // The killed process had tasks in hand, and they were taken over.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(pagefeed_events::subject::TASKS_STREAM)
        .await?
        .get_consumer(pagefeed_events::streams::FETCHERS_CONSUMER)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = consumer.info().await?;
    // Each delivery takes a consumer sequence: more deliveries than tasks.
    assert!(
        info.delivered.consumer_sequence > info.delivered.stream_sequence,
        "no task was redelivered: {info:?}"
    );
    Ok(())
}
