//! Provisioning is idempotent: services starting together all find the
//! streams; a stream configured otherwise is reported, never rewritten.

use std::time::Duration;

use async_nats::jetstream::stream;
use pagefeed_e2e::spawn_scheduler;
use pagefeed_events::streams::{ensure_streams, events_stream, ProvisionError};
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::jetstream_at;

#[tokio::test]
async fn concurrent_provisioning_creates_each_stream_once() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config(
        &nats.url(),
        1,
        &[id_site("p", "http://127.0.0.1:9/{id}", 1, 2, 1, "10s")],
    );
    let js = jetstream_at(&nats.url()).await?;
    let results = futures::future::join_all((0..6).map(|_| ensure_streams(&js, &cfg))).await;
    for result in results {
        result?;
    }
    ensure_streams(&js, &cfg).await?;
    let info = js.get_stream(EVENTS_STREAM).await?.info().await?.clone();
    assert_eq!(info.config.max_age, events_stream(&cfg).max_age);
    Ok(())
}

#[tokio::test]
async fn a_conflicting_stream_stops_the_scheduler_and_is_left_alone() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config(
        &nats.url(),
        1,
        &[id_site("p", "http://127.0.0.1:9/{id}", 1, 2, 1, "10s")],
    );
    let js = jetstream_at(&nats.url()).await?;
    let operator_choice = Duration::from_secs(3 * 86_400);
    js.create_stream(stream::Config {
        max_age: operator_choice,
        ..events_stream(&cfg)
    })
    .await?;

    match ensure_streams(&js, &cfg).await {
        Err(ProvisionError::Conflict {
            stream,
            differences,
        }) => {
            assert_eq!(stream, EVENTS_STREAM);
            assert_eq!(differences.len(), 1, "{differences:?}");
            assert_eq!(differences[0].field, "max_age");
            assert_eq!(differences[0].have, "72h");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    let error = spawn_scheduler(cfg)
        .join()
        .await
        .expect_err("the scheduler refuses to run");
    let message = format!("{error:#}");
    assert!(message.contains("PAGEFEED_EVENTS"), "{message}");
    assert!(
        message.contains("nats stream edit PAGEFEED_EVENTS --max-age"),
        "{message}"
    );

    let info = js.get_stream(EVENTS_STREAM).await?.info().await?.clone();
    assert_eq!(
        info.config.max_age, operator_choice,
        "the stream was not rewritten"
    );
    Ok(())
}
