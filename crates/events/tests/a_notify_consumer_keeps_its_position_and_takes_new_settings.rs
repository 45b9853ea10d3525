//! A destination's consumer is created at the end of the stream (no
//! backlog) or where it is told; once it exists, setting it up again keeps
//! its position and only brings its filter, `ack_wait` and
//! `max_ack_pending` to what the config now says.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_events::streams::{ensure_notify_consumer, ensure_streams, notify_consumer};
use pagefeed_events::Config;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_events};

fn config(url: &str, site: &str) -> Config {
    let text = format!(
        "[nats]\nurl = \"{url}\"\n[[site]]\nname = \"sample\"\nurl = \"http://127.0.0.1:9/{{id}}\"\n\
         ids = {{ first = 1, last = 9 }}\ninterval = \"1h\"\nretention = \"7d\"\n\
         [site.extract]\nentry = \"div\"\n[[notify]]\nname = \"ops\"\n{site}\
         webhook = \"http://127.0.0.1:9/hook\"\n"
    );
    Config::parse(Path::new("t.toml"), &text).expect("a valid config")
}

fn entry(n: u64) -> Event {
    Event::EntryObserved(EntryObserved {
        page: "sample.1".parse().expect("a page key"),
        id: format!("e{n}"),
        text: "t".into(),
        timestamp: None,
        link: None,
        observed_at: chrono::Utc::now(),
        first_crawl: false,
    })
}

#[tokio::test]
async fn a_notify_consumer_keeps_its_position_and_takes_new_settings() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let js = jetstream_at(&nats.url()).await?;
    let all = config(&nats.url(), "");
    ensure_streams(&js, &all).await?;
    let last = publish_events(&js, &[entry(1), entry(2)]).await?;

    let mut created = ensure_notify_consumer(
        &js,
        notify_consumer(&all.notify[0], Duration::from_secs(30), 64, None),
    )
    .await?;
    let info = created.info().await?.clone();
    assert_eq!(info.name, "notify-ops");
    assert_eq!(info.config.deliver_policy, DeliverPolicy::New);
    assert_eq!(
        info.config.filter_subject,
        "pagefeed.events.entry_observed.>"
    );
    assert_eq!(info.num_pending, 0, "no backlog");
    assert_eq!(info.delivered.stream_sequence, last);

    // Now for one site, a shorter ack_wait, told a start it no longer needs.
    let one = config(&nats.url(), "site = \"sample\"\n");
    let mut again = ensure_notify_consumer(
        &js,
        notify_consumer(&one.notify[0], Duration::from_secs(5), 32, Some(1)),
    )
    .await?;
    let info = again.info().await?.clone();
    assert_eq!(
        info.config.filter_subject,
        "pagefeed.events.entry_observed.sample.*"
    );
    assert_eq!(info.config.ack_wait, Duration::from_secs(5));
    assert_eq!(info.config.max_ack_pending, 32);
    assert_eq!(info.config.deliver_policy, DeliverPolicy::New, "kept");
    assert_eq!(info.num_pending, 0, "its position kept");
    publish_events(&js, &[entry(3)]).await?;
    assert_eq!(again.info().await?.num_pending, 1, "what comes next");

    // A new destination told a sequence starts there.
    let mut told = all.notify[0].clone();
    told.name = "replay".into();
    let mut replay = ensure_notify_consumer(
        &js,
        notify_consumer(&told, Duration::from_secs(30), 64, Some(2)),
    )
    .await?;
    assert_eq!(replay.info().await?.num_pending, 2, "entries 2 and 3");
    Ok(())
}
