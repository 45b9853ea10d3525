//! A running node keeps the search index's segments few on its own: it
//! merges them between batches (`docs/projector-store.md`, "Merging"), and
//! the file it leaves answers searches as before.

use std::time::Duration;

use pagefeed_projector::store::Store;
use pagefeed_projector::store_path;

mod node;
use node::{http_client, page_events, publish, with_streams, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_merges_a_grams_segments_between_batches() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let dir = tempfile::tempdir()?;
    let node = Node::start(&cfg, dir.path(), "m")?;
    let client = http_client();
    // Twenty rounds of 300 entries, each text holding "渋谷", each round
    // applied before the next is published, in a batch or more: a batch
    // appends only to a segment under 256, so a segment holds at most
    // 255 + 300 postings, and the 6,000 take at least 11 segments.
    let mut last = 0;
    for round in 1..=20 {
        last = publish(&js, &page_events(round, 300)).await?;
        node.wait_applied(&client, last, Duration::from_secs(60))
            .await?;
    }
    node.stop().await?;

    let store = Store::open(&store_path(dir.path()))?;
    assert_eq!(store.applied_seq()?, last);
    let (tiers, postings) = store.gram_segments("渋谷")?;
    assert_eq!(postings, 20 * 300);
    // The eighth queued a merge into tier 1, the node ran it, and fewer
    // than 8 are left in tier 0.
    assert!(tiers[0] < 8 && tiers[1] >= 1, "{tiers:?}");
    assert_eq!(tiers[2..].iter().sum::<u64>(), 0, "{tiers:?}");
    assert!(!store.merge_step(usize::MAX)?, "nothing was left to merge");
    assert_eq!(store.search("渋谷へ", 10_000)?.len(), 20 * 300);
    Ok(())
}
