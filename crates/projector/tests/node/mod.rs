//! Events to publish, and running a projector node in-process until its
//! file has applied a given sequence. redb lets one process hold a file, so
//! progress is read through NATS: the node's consumer's ack floor reaches
//! `seq` once the batch holding it has committed.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use pagefeed_e2e::{jetstream_at, wait_for};
use pagefeed_events::event::{EntryObserved, Event, PageRecord};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Config;
use pagefeed_projector::Options;
use tokio_util::sync::CancellationToken;

/// A page's `entries` entry events, then its crawl.
pub fn page_events(page: u32, entries: u32) -> Vec<Event> {
    let key: pagefeed_events::PageKey = format!("sample.{page}").parse().expect("a page key");
    let at = "2026-11-24T03:00:00Z".parse().expect("a time");
    let mut events: Vec<Event> = (0..entries)
        .map(|n| {
            Event::EntryObserved(EntryObserved {
                page: key.clone(),
                id: format!("{page:04}{n:04}"),
                text: format!("ページ{page}の日記{n}: 今日は渋谷へ"),
                timestamp: None,
                link: None,
                observed_at: at,
            })
        })
        .collect();
    events.push(Event::PageCrawled(PageRecord {
        page: key,
        url: format!("http://127.0.0.1:9/{page}"),
        title: format!("ユーザー{page}"),
        crawled_at: at,
        status: 200,
        entries,
    }));
    events
}

/// Publishes `events` and returns the stream's last sequence.
pub async fn publish(js: &async_nats::jetstream::Context, events: &[Event]) -> anyhow::Result<u64> {
    let msgs: Vec<Outgoing> = events.iter().map(Outgoing::from).collect();
    publish_all(js, &msgs, &CancellationToken::new()).await?;
    Ok(js
        .get_stream(EVENTS_STREAM)
        .await?
        .info()
        .await?
        .state
        .last_sequence)
}

/// Runs node `name` on `data` until it has applied `seq`, then stops it.
pub async fn run_until_applied(
    cfg: &Config,
    data: &Path,
    name: &str,
    seq: u64,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let node = tokio::spawn(pagefeed_projector::run(
        Options {
            cfg: cfg.clone(),
            data: data.to_owned(),
            node: name.to_owned(),
            http: "127.0.0.1:0".parse()?,
            idle: Duration::from_secs(3600),
        },
        token.clone(),
    ));
    let js = jetstream_at(&cfg.nats.url).await?;
    let consumer_name = pagefeed_events::streams::projector_consumer_name(name);
    wait_for(
        Duration::from_secs(60),
        "the node to apply the stream",
        || async {
            let Ok(stream) = js.get_stream(EVENTS_STREAM).await else {
                return Ok(None);
            };
            let consumer: Result<async_nats::jetstream::consumer::PullConsumer, _> =
                stream.get_consumer(&consumer_name).await;
            let Ok(mut consumer) = consumer else {
                return Ok(None);
            };
            let Ok(info) = consumer.info().await else {
                return Ok(None);
            };
            Ok((info.ack_floor.stream_sequence >= seq).then_some(()))
        },
    )
    .await?;
    token.cancel();
    node.await??;
    Ok(())
}
