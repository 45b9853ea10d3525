//! As the `notifier` user of deploy/nats/permissions.conf, a notifier
//! follows and acks its consumer and delivers; that user may not publish
//! an event or a task, create a consumer of other events, or delete the log.

mod support;

use std::time::Duration;

use async_nats::jetstream;
use pagefeed_events::streams::ensure_streams;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_testkit::permissions::{password, server_config};
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::publish_events;

use support::*;

async fn jetstream_as(url: &str, user: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password(user))
        .connect(url)
        .await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_user_may_only_notify() -> anyhow::Result<()> {
    let mut system = Services::start_with(&server_config()).await?;
    let url = system.nats_url();
    let receiver = Receiver::ok().await?;
    let text = config(
        &url,
        &format!("{QUICK}\n{}", webhook("hook", &receiver.url)),
    );
    let cfg = system.write_config(&text)?;
    let ops = jetstream_as(&url, "operator").await?;
    ensure_streams(&ops, &cfg).await?;

    let status_url = start_notifier(&mut system, "notifier-1", &[])?;
    let command = system["notifier-1"]
        .command()
        .clone()
        .env("PAGEFEED_NATS_USER", "notifier")
        .env("PAGEFEED_NATS_PASSWORD", password("notifier"));
    system["notifier-1"].restart_as(command)?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&status_url)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(20)))?;
    let events: Vec<_> = (0..3).map(|n| entry(4, n)).collect();
    publish_events(&ops, &events).await?;
    receiver.wait_delivered(&keys(&events), PATIENCE).await?;

    let js = jetstream_as(&url, "notifier").await?;
    for subject in [
        "pagefeed.events.entry_observed.sample.4",
        "pagefeed.tasks.sample.4",
    ] {
        let acked = match js.publish(subject, "{}".into()).await {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        assert!(!acked, "the notifier published to {subject}");
    }
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let other = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("notify-everything".into()),
            filter_subject: "pagefeed.events.>".into(),
            ..Default::default()
        })
        .await;
    assert!(other.is_err(), "a consumer of every event was created");
    assert!(js.delete_stream(EVENTS_STREAM).await.is_err());
    assert!(js.delete_stream(TASKS_STREAM).await.is_err());
    assert_eq!(
        ops.get_stream(EVENTS_STREAM)
            .await?
            .info()
            .await?
            .state
            .messages,
        3
    );
    Ok(())
}
