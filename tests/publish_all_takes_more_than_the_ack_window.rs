//! `publish_all` with more messages than async-nats lets be awaiting an ack
//! (5,000 per context) still returns, with every message stored once: it
//! awaits acks window by window instead of after every send.

use std::time::Duration;

use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::jetstream_at;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn twelve_thousand_messages_in_one_call() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config(
        &nats.url(),
        1,
        &[id_site("sample", "http://127.0.0.1:9/{id}", 1, 9, 1, "1h")],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let at = "2026-11-24T00:00:00Z".parse()?;
    let msgs: Vec<Outgoing> = (0..12_000)
        .map(|n| {
            Outgoing::from(&Event::EntryObserved(EntryObserved {
                page: "sample.1".parse().expect("a page key"),
                id: n.to_string(),
                text: format!("entry {n}"),
                timestamp: None,
                link: None,
                observed_at: at,
                first_crawl: false,
            }))
        })
        .collect();
    let acks = tokio::time::timeout(
        Duration::from_secs(120),
        publish_all(&js, &msgs, &CancellationToken::new()),
    )
    .await??;
    assert_eq!(acks.len(), msgs.len());
    let info = js
        .get_stream(EVENTS_STREAM)
        .await?
        .info()
        .await?
        .state
        .clone();
    assert_eq!(info.messages, 12_000);
    Ok(())
}
