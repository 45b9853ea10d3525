//! A delivery the node never receives (lost in flight across a reconnect,
//! as the chaos saw once: node b ended at the stream's last sequence with
//! another digest) must not be skipped. The node's consumer takes no acks,
//! so JetStream counts a lost delivery as done and goes on with the next;
//! the node sees the consumer sequence jump and reads again from what its
//! file holds. Here deliveries are taken from the node's own consumer by
//! another client, which loses them for the node as surely.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt as _;
use pagefeed_events::streams::projector_consumer_name;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_testkit::streams::publish_events;

mod node;
use node::{digest_of, entries, http_client, run_until_applied, with_streams, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_taken_from_the_nodes_consumer_are_read_again() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let (_nats, cfg, js) = with_streams().await?;
    let client = http_client();
    let dirs = tempfile::tempdir()?;
    let a = Node::start(&cfg, &dirs.path().join("a"), "a")?;
    let first = publish_events(&js, &entries(1, 0, 20)).await?;
    a.wait_applied(&client, first, Duration::from_secs(30))
        .await?;

    // Another client pulls from node a's consumer while events keep
    // coming, until it has taken some of them.
    let mut taken = 0;
    let mut next = 100;
    let deadline = Instant::now() + Duration::from_secs(60);
    while taken < 3 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no delivery could be taken in 60 s"
        );
        // The consumer as it is now (the node sets it up again when it
        // notices), and the request before the events, so that it waits
        // beside the node's own.
        let consumer: Result<PullConsumer, _> = js
            .get_consumer_from_stream(projector_consumer_name("a"), EVENTS_STREAM)
            .await;
        let Ok(consumer) = consumer else { continue };
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(2))
            .messages()
            .await?;
        publish_events(&js, &entries(2, next, 5)).await?;
        next += 5;
        while let Some(msg) = batch.next().await {
            // An error: the node set its consumer up again meanwhile.
            if msg.is_ok() {
                taken += 1;
            }
        }
    }
    let last = publish_events(&js, &entries(3, 0, 5)).await?;
    a.wait_applied(&client, last, Duration::from_secs(30))
        .await?;
    let (applied, digest) = a.stop().await?;

    // A node that never lost a delivery, for comparison.
    let fresh = dirs.path().join("fresh");
    run_until_applied(&cfg, &fresh, "fresh", last).await?;
    assert_eq!(
        (applied, digest),
        digest_of(&fresh).await?,
        "{taken} deliveries were taken"
    );
    Ok(())
}
