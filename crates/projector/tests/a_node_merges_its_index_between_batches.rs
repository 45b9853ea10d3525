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
    // Twelve rounds of 300 entries, each text holding "渋谷", each round
    // applied before the next is published: every round leaves a segment
    // of "渋谷" of its own (a batch appends only to a segment under 256).
    let mut last = 0;
    for round in 1..=12 {
        last = publish(&js, &page_events(round, 300)).await?;
        node.wait_applied(&client, last, Duration::from_secs(60))
            .await?;
    }
    node.stop().await?;

    let store = Store::open(&store_path(dir.path()))?;
    assert_eq!(store.applied_seq()?, last);
    let (tiers, postings) = store.gram_segments("渋谷")?;
    assert_eq!(postings, 12 * 300);
    // The eighth segment queued the merge: tier 0 went to tier 1, and the
    // four later rounds are what tier 0 holds.
    assert_eq!(
        (tiers[0], tiers[1], tiers[2..].iter().sum::<u64>()),
        (4, 1, 0),
        "{tiers:?}"
    );
    assert!(!store.merge_step(usize::MAX)?, "nothing was left to merge");
    assert_eq!(store.search("渋谷へ", 10_000)?.len(), 12 * 300);
    Ok(())
}
