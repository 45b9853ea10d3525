//! Like the original's Incr: each tick takes the next `batch` ids and wraps
//! around, so a few ticks cover the whole range.

use std::collections::BTreeSet;
use std::time::Duration;

use pagefeed_e2e::spawn_scheduler;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{ids_by_slot, jetstream_at, stored_tasks};
use pagefeed_testkit::wait::wait_for;

#[tokio::test]
async fn batches_cycle_through_the_id_range() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config(
        &nats.url(),
        1,
        &[id_site(
            "cyc",
            "http://127.0.0.1:9/p?id={id}",
            1,
            10,
            4,
            "1s",
        )],
    );
    let scheduler = spawn_scheduler(cfg);
    let js = jetstream_at(&nats.url()).await?;
    wait_for(Duration::from_secs(30), "four ticks", || async {
        let tasks = stored_tasks(&js).await.unwrap_or_default();
        Ok((ids_by_slot(&tasks).len() >= 4).then_some(()))
    })
    .await?;
    scheduler.stop().await?;

    let slots = ids_by_slot(&stored_tasks(&js).await?);
    let batches: Vec<(i64, Vec<u64>)> = slots.into_iter().collect();
    for window in batches.windows(2) {
        let (slot_a, a) = &window[0];
        let (slot_b, b) = &window[1];
        assert_eq!(a.len(), 4);
        assert_eq!(b.len(), 4);
        if slot_b - slot_a == 1 {
            assert_eq!(
                b[0],
                a[3] % 10 + 1,
                "slot {slot_b} continues where {slot_a} stopped"
            );
        }
        for pair in a.windows(2) {
            assert_eq!(
                pair[1],
                pair[0] % 10 + 1,
                "a batch is consecutive ids, wrapping"
            );
        }
    }
    // Three consecutive ticks of 4 cover all 10 ids.
    let consecutive = batches
        .windows(3)
        .find(|w| w[2].0 - w[0].0 == 2)
        .expect("three consecutive slots");
    let covered: BTreeSet<u64> = consecutive
        .iter()
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    assert_eq!(covered, (1..=10).collect());
    Ok(())
}
