//! A running node is handed garbage published by hand on an events subject
//! and an event of a newer schema (`"v": 999`): its HTTP status, read over
//! real HTTP while it keeps running, counts both as rejected (so does its
//! metrics page), and the events published after them still apply.

use std::time::Duration;

mod node;
use node::{entries, http_client, publish, publish_unreadable, with_streams, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_counts_rejected_events_and_later_ones_apply() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let client = http_client();
    let dirs = tempfile::tempdir()?;
    let node = Node::start(&cfg, &dirs.path().join("n"), "n")?;

    let before = publish(&js, &entries(1, 0, 3)).await?;
    let clean = node
        .wait_applied(&client, before, Duration::from_secs(30))
        .await?;
    assert_eq!((clean.entries, clean.rejected), (3, 0));

    let (garbage, newer) = publish_unreadable(&js).await?;
    let last = publish(&js, &entries(2, 0, 4)).await?;
    assert!(before < garbage && garbage < newer && newer < last);

    let status = node
        .wait_applied(&client, last, Duration::from_secs(30))
        .await?;
    assert!(node.is_running(), "bad events do not stop the node");
    assert_eq!(status.node, "n");
    assert_eq!(status.applied_seq, last);
    assert_eq!(status.rejected, 2, "{status:?}");
    assert_eq!(status.entries, 7, "events after the rejected ones applied");

    let metrics = client
        .get(format!("http://{}/metrics", node.http))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    assert!(
        metrics.contains("pagefeed_projector_rejected_total{node=\"n\"} 2\n"),
        "{metrics}"
    );

    let (applied, _) = node.stop().await?;
    assert_eq!(applied, last);
    Ok(())
}
