//! The nats-server restarts (same port, same store) under a running
//! projector node while a publisher keeps publishing entry events, before,
//! across and after the restart: the node is not restarted, applies every
//! event, and its digest equals a node built from scratch afterwards.
//! (Published events rather than a crawl, so that only the projector is
//! under test across the restart.)

use std::time::Duration;

use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_testkit::streams::jetstream_at;
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

mod node;
use node::{entries, http_client, publish, stream_last_seq, with_streams, Node};

const CHUNKS: u32 = 8;
const CHUNK: u32 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_heals_across_a_server_restart_without_restarting() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let (mut nats, cfg, js) = with_streams().await?;
    let client = http_client();
    let dirs = tempfile::tempdir()?;
    let a = Node::start(&cfg, &dirs.path().join("a"), "a")?;

    let first = publish(&js, &entries(1, 0, 2_000)).await?;
    a.wait_applied(&client, first, Duration::from_secs(60))
        .await?;

    // A publisher that reconnects like the services do, publishing chunk
    // after chunk (each retried until acked) across the restart.
    let publisher =
        async_nats::jetstream::new(pagefeed_events::connect(&cfg.nats, "test-publisher").await?);
    let publishing = tokio::spawn(async move {
        for chunk in 0..CHUNKS {
            let msgs: Vec<Outgoing> = entries(2, chunk * CHUNK, CHUNK)
                .iter()
                .map(Outgoing::from)
                .collect();
            publish_all(&publisher, &msgs, &CancellationToken::new()).await?;
        }
        anyhow::Ok(())
    });
    wait_for(
        Duration::from_secs(30),
        "the publisher to be under way",
        || async { Ok((stream_last_seq(&js).await? > first).then_some(())) },
    )
    .await?;

    nats.restart().await?;
    let js = jetstream_at(&nats.url()).await?;
    let after_restart = publish(&js, &entries(3, 0, 2_000)).await?;
    tokio::time::timeout(Duration::from_secs(60), publishing)
        .await
        .map_err(|_| anyhow::anyhow!("the publisher did not finish within 60 s"))???;
    let last = stream_last_seq(&js).await?;
    let published = u64::from(2_000 + CHUNKS * CHUNK + 2_000);
    assert_eq!(last, published, "the stream holds every event once");
    assert!(after_restart > first);

    let healed = a
        .wait_applied(&client, last, Duration::from_secs(60))
        .await?;
    assert!(a.is_running(), "the node was never restarted");
    assert_eq!(healed.entries, published, "every event applied once");
    assert_eq!(healed.rejected, 0);
    let (seq_a, digest_a) = a.stop().await?;
    assert_eq!(seq_a, last);

    let fresh = dirs.path().join("fresh");
    node::run_until_applied(&cfg, &fresh, "fresh", last).await?;
    let (seq_fresh, digest_fresh) = node::digest_of(&fresh).await?;
    assert_eq!(seq_fresh, last);
    assert_eq!(
        digest_a, digest_fresh,
        "the healed node equals a node built from scratch"
    );
    Ok(())
}
