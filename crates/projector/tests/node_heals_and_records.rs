//! A projector node in the face of what goes wrong around it: its data dir
//! deleted while its consumer still exists (it rebuilds from the stream, not
//! from the consumer's position), and garbage or a newer schema in the stream
//! (recorded as rejected with sequence and reason; later events still apply).

use std::path::Path;

use pagefeed_e2e::{config_with, id_site, jetstream_at};
use pagefeed_events::event::{EntryObserved, Event, PageRecord};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_projector::store::Store;
use pagefeed_projector::store_path;
use pagefeed_testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

mod node;
use node::run_until_applied;

fn page_events(page: u32, entries: u32) -> Vec<Event> {
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

async fn publish(js: &async_nats::jetstream::Context, events: &[Event]) -> anyhow::Result<u64> {
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

fn open(data: &Path) -> anyhow::Result<Store> {
    Ok(Store::open(&store_path(data))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_data_dir_is_rebuilt_from_the_stream() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config_with(
        &nats.url(),
        "",
        "",
        &[id_site("sample", "http://127.0.0.1:9/{id}", 1, 9, 1, "1h")],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let dirs = tempfile::tempdir()?;
    let a = dirs.path().join("a");

    let first = publish(&js, &page_events(1, 10)).await?;
    run_until_applied(&cfg, &a, "a", first).await?;
    assert_eq!(open(&a)?.counts()?.entries, 10);

    // The data dir goes; the consumer `projector-a` stays, at `first`.
    std::fs::remove_dir_all(&a)?;
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let consumer: Result<async_nats::jetstream::consumer::PullConsumer, _> =
        stream.get_consumer("projector-a").await;
    assert!(consumer.is_ok(), "the consumer outlives the data dir");
    let last = publish(&js, &page_events(2, 5)).await?;

    run_until_applied(&cfg, &a, "a", last).await?;
    let rebuilt = open(&a)?;
    assert_eq!(rebuilt.applied_seq()?, last);
    assert_eq!(
        rebuilt.counts()?.entries,
        15,
        "rebuilt from the stream's start, not the consumer's position"
    );

    let b = dirs.path().join("b");
    run_until_applied(&cfg, &b, "b", last).await?;
    assert_eq!(rebuilt.digest()?, open(&b)?.digest()?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_newer_schema_are_rejected_and_later_events_apply() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config_with(
        &nats.url(),
        "",
        "",
        &[id_site("sample", "http://127.0.0.1:9/{id}", 1, 9, 1, "1h")],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;

    let before = publish(&js, &page_events(1, 3)).await?;
    let garbage = js
        .publish(
            "pagefeed.events.page_crawled.sample.7",
            "not json at all".into(),
        )
        .await?
        .await?
        .sequence;
    let newer = js
        .publish(
            "pagefeed.events.entry_observed.sample.7",
            r#"{"v":999,"type":"entry_observed","page":"sample.7"}"#.into(),
        )
        .await?
        .await?
        .sequence;
    let last = publish(&js, &page_events(2, 4)).await?;
    assert!(before < garbage && garbage < newer && newer < last);

    let dir = tempfile::tempdir()?;
    run_until_applied(&cfg, dir.path(), "r", last).await?;
    let store = open(dir.path())?;
    let counts = store.counts()?;
    assert_eq!(counts.rejected, 2);
    assert_eq!(counts.entries, 7, "events after the rejected ones applied");
    let rejected = store.rejected(10)?;
    let seqs: Vec<u64> = rejected.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, vec![garbage, newer]);
    assert!(
        rejected[0].1.reason.contains("not JSON"),
        "{:?}",
        rejected[0].1
    );
    assert!(rejected[1].1.reason.contains("999"), "{:?}", rejected[1].1);
    assert_eq!(store.applied_seq()?, last);
    Ok(())
}
