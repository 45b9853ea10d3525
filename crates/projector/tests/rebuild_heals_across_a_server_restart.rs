//! The nats-server restarts (same port, same store) while a rebuild reads
//! the stream: its replay consumer (ephemeral, in memory) is gone, and the
//! rebuild creates another right after the last event it read, goes on, and
//! ends with the digest of a node that replicated all along.

use std::time::Duration;

use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_projector::rebuild::{rebuild, RebuildOptions};
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

mod node;
use node::{entries, publish, run_until_applied, with_streams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_goes_on_across_a_server_restart() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let (mut nats, cfg, js) = with_streams().await?;
    let dirs = tempfile::tempdir()?;
    let mut last = 0;
    for page in 1..=10 {
        last = publish(&js, &entries(page, 0, 10_000)).await?;
    }
    let all_along = dirs.path().join("all-along");
    run_until_applied(&cfg, &all_along, "all-along", last).await?;
    let expected = node::digest_of(&all_along).await?;

    let rebuilding = tokio::spawn(rebuild(
        RebuildOptions {
            cfg: cfg.clone(),
            data: dirs.path().join("r"),
            node: "r".to_owned(),
            idle: Duration::from_secs(3600),
            progress: Box::new(|_| {}),
        },
        CancellationToken::new(),
    ));
    // Its replay consumer exists beside the node's durable one.
    wait_for(
        Duration::from_secs(30),
        "the rebuild's consumer",
        || async {
            let info = js.get_stream(EVENTS_STREAM).await?.get_info().await?;
            Ok((info.state.consumer_count >= 2).then_some(()))
        },
    )
    .await?;
    assert!(!rebuilding.is_finished(), "the restart lands mid-rebuild");
    nats.restart().await?;

    let rebuilt = tokio::time::timeout(Duration::from_secs(120), rebuilding)
        .await
        .map_err(|_| anyhow::anyhow!("the rebuild did not end within 120 s"))???
        .ok_or_else(|| anyhow::anyhow!("the rebuild was cancelled"))?;
    assert_eq!((rebuilt.applied_seq, rebuilt.digest), expected);
    Ok(())
}
