//! Two schedulers running at once (high availability) for several intervals:
//! JetStream stores each (page, slot) task once, and each retention event
//! (the site's, and that of every other site) once.

use std::collections::HashMap;
use std::time::Duration;

use pagefeed_e2e::spawn_scheduler;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{ids_by_slot, jetstream_at, stored, stored_tasks};
use pagefeed_testkit::wait::wait_for;

#[tokio::test]
async fn two_schedulers_for_three_intervals_give_each_task_once() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let cfg = config(
        &nats.url(),
        1,
        &[id_site(
            "ha",
            "http://127.0.0.1:9/p?id={id}",
            1,
            20,
            5,
            "1s",
        )],
    );
    let first = spawn_scheduler(cfg.clone());
    let second = spawn_scheduler(cfg);
    let js = jetstream_at(&nats.url()).await?;
    wait_for(Duration::from_secs(30), "four ticks", || async {
        let tasks = stored_tasks(&js).await.unwrap_or_default();
        Ok((ids_by_slot(&tasks).len() >= 4).then_some(()))
    })
    .await?;
    first.stop().await?;
    second.stop().await?;

    let tasks = stored_tasks(&js).await?;
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for (task, _) in &tasks {
        *seen.entry((task.page.to_string(), task.slot)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    for (slot, ids) in ids_by_slot(&tasks) {
        assert_eq!(ids.len(), 5, "slot {slot} has one batch");
    }

    let retention = stored(&js, EVENTS_STREAM)
        .await?
        .into_iter()
        .filter(|m| m.subject == "pagefeed.events.retention.ha")
        .count();
    assert_eq!(retention, 1, "one retention event for the retention slot");
    let others = stored(&js, EVENTS_STREAM)
        .await?
        .into_iter()
        .filter(|m| m.subject == "pagefeed.events.retention.ALL")
        .count();
    assert_eq!(
        others, 1,
        "one retention event of the other sites for the retention slot"
    );
    Ok(())
}
