//! The nats-server restarts under a running scheduler: the scheduler is not
//! restarted, and every tick after the server is back is published, the
//! ones that fell while the client was still reconnecting included (late).

use std::time::Duration;

use chrono::Utc;
use pagefeed_e2e::spawn_scheduler;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{ids_by_slot, jetstream_at, stored_tasks};
use pagefeed_testkit::wait::wait_for;

#[tokio::test]
async fn a_nats_restart_mid_run_loses_no_later_tick() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let mut nats = NatsServer::start().await?;
    let cfg = config(
        &nats.url(),
        1,
        &[id_site(
            "rs",
            "http://127.0.0.1:9/p?id={id}",
            1,
            30,
            3,
            "1s",
        )],
    );
    let scheduler = spawn_scheduler(cfg);
    {
        let js = jetstream_at(&nats.url()).await?;
        wait_for(
            Duration::from_secs(30),
            "two ticks before the restart",
            || async {
                Ok(
                    (ids_by_slot(&stored_tasks(&js).await.unwrap_or_default()).len() >= 2)
                        .then_some(()),
                )
            },
        )
        .await?;
    }

    nats.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await; // at least one tick falls in the outage
    nats.restart().await?;
    let back = Utc::now().timestamp();

    let js = jetstream_at(&nats.url()).await?;
    wait_for(
        Duration::from_secs(30),
        "four ticks after the restart",
        || async {
            let slots = ids_by_slot(&stored_tasks(&js).await.unwrap_or_default());
            Ok((slots.range(back + 1..).count() >= 4).then_some(()))
        },
    )
    .await?;
    scheduler.stop().await?;

    let slots = ids_by_slot(&stored_tasks(&js).await?);
    let after: Vec<i64> = slots.range(back + 1..).map(|(slot, _)| *slot).collect();
    let last = *after.last().expect("ticks after the restart");
    assert_eq!(
        after,
        (back + 1..=last).collect::<Vec<_>>(),
        "every slot after the restart was published"
    );
    for (slot, ids) in &slots {
        assert_eq!(
            ids.len(),
            3,
            "slot {slot} holds its whole batch once: {ids:?}"
        );
        let start = (slot.rem_euclid(10) * 3) as u64;
        let expected: Vec<u64> = (0..3).map(|j| 1 + (start + j) % 30).collect();
        assert_eq!(ids, &expected, "slot {slot} holds its own batch");
    }
    let before = slots.range(..back).count();
    assert!(
        before >= 2,
        "ticks from before the restart survived in the store"
    );
    Ok(())
}
