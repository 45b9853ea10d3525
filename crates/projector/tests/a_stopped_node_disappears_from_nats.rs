//! A node that stops for good disappears from NATS by itself: its consumer
//! `projector-<node>` carries the node's idle time as its inactive threshold,
//! stays while the node runs (longer than that time), and is removed by the
//! server once the node has been gone that long.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_projector::Options;
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

mod node;
use node::{page_events, publish, with_streams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_of_a_stopped_node_goes_after_its_idle_time() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let last = publish(&js, &page_events(1, 5)).await?;

    let idle = Duration::from_secs(3);
    let dir = tempfile::tempdir()?;
    let token = CancellationToken::new();
    let running = tokio::spawn(pagefeed_projector::run(
        Options {
            cfg: cfg.clone(),
            data: dir.path().to_owned(),
            node: "gone".into(),
            http: "127.0.0.1:0".parse()?,
            idle,
            sync_every: pagefeed_projector::store::DEFAULT_SYNC_EVERY,
            api: pagefeed_projector::api::ApiOptions::default(),
            summary_every: Duration::ZERO,
        },
        token.clone(),
    ));
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let consumer = || async {
        let found: Result<PullConsumer, _> = stream.get_consumer("projector-gone").await;
        found.ok()
    };
    let mut c = wait_for(Duration::from_secs(30), "the node's consumer", || async {
        let Some(mut c) = consumer().await else {
            return Ok(None);
        };
        let info = c.info().await?;
        Ok((info.ack_floor.stream_sequence >= last).then_some(c))
    })
    .await?;
    assert_eq!(c.info().await?.config.inactive_threshold, idle);

    // Running, quiet, for more than twice the idle time: still there.
    tokio::time::sleep(idle * 2 + Duration::from_secs(1)).await;
    assert!(
        consumer().await.is_some(),
        "a running node keeps its consumer"
    );

    token.cancel();
    running.await??;
    assert!(consumer().await.is_some(), "not removed at once");
    wait_for(
        Duration::from_secs(30),
        "the stopped node's consumer to go",
        || async { Ok(consumer().await.is_none().then_some(())) },
    )
    .await?;
    Ok(())
}
