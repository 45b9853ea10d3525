//! One tick of the scheduler publishes exactly the batch of the current slot:
//! the expected subjects, message ids and URLs, nothing else.

use std::collections::BTreeSet;
use std::time::Duration;

use pagefeed_e2e::spawn_scheduler;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, stored_tasks};
use pagefeed_testkit::wait::wait_for;

#[tokio::test]
async fn one_tick_publishes_exactly_the_expected_tasks() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let url = "http://127.0.0.1:8700/recent_page_feed?page_id={id}";
    let cfg = config(&nats.url(), 1, &[id_site("sample", url, 1, 500, 100, "1h")]);
    let scheduler = spawn_scheduler(cfg);
    let js = jetstream_at(&nats.url()).await?;

    wait_for(Duration::from_secs(20), "the first tick", || async {
        Ok((stored_tasks(&js).await.unwrap_or_default().len() >= 100).then_some(()))
    })
    .await?;
    scheduler.stop().await?;
    let tasks = stored_tasks(&js).await?;
    assert_eq!(tasks.len() % 100, 0, "whole batches only");

    for (slot, group) in pagefeed_testkit::streams::ids_by_slot(&tasks) {
        // Slot n of an hour-long interval schedules ids start+1 ..= start+100
        // (mod 500), start = n * 100 mod 500.
        let index = slot / 3600;
        let start = (index * 100).rem_euclid(500) as u64;
        let expected: Vec<u64> = (0..100).map(|j| 1 + (start + j) % 500).collect();
        assert_eq!(group, expected, "slot {slot}");
    }
    let subjects: BTreeSet<String> = tasks.iter().map(|(t, _)| t.subject()).collect();
    assert_eq!(subjects.len(), tasks.len(), "each subject once per tick");
    for (task, msg_id) in &tasks {
        let id = task.page.id();
        assert_eq!(task.subject(), format!("pagefeed.tasks.sample.{id}"));
        assert_eq!(msg_id, &format!("task:sample.{id}:{}", task.slot));
        assert_eq!(task.url, url.replace("{id}", id));
        assert_eq!(task.slot % 3600, 0, "slots start on the hour");
    }
    Ok(())
}
