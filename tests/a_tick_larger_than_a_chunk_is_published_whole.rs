//! The scheduler publishes a tick a chunk at a time (so that its memory does
//! not grow with `batch`); a tick of several chunks still ends with every
//! task of the batch stored once, in id order, and nothing more.

use std::time::Duration;

use pagefeed_e2e::spawn_scheduler;
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{ids_by_slot, jetstream_at, stored_tasks};
use pagefeed_testkit::wait::wait_for;

/// More than two of the scheduler's chunks (10,000 tasks), and not a
/// multiple of one.
const BATCH: u64 = 25_001;
const LAST: u64 = 60_000;

#[tokio::test]
async fn a_tick_of_several_chunks_is_stored_whole_and_once() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let url = "http://127.0.0.1:8700/recent_page_feed?page_id={id}";
    let cfg = config(
        &nats.url(),
        1,
        &[id_site("sample", url, 1, LAST, BATCH, "1h")],
    );
    let scheduler = spawn_scheduler(cfg);
    let js = jetstream_at(&nats.url()).await?;
    let stored = || async {
        let info = js
            .get_stream(pagefeed_events::subject::TASKS_STREAM)
            .await?
            .info()
            .await?
            .state
            .clone();
        anyhow::Ok(info.messages)
    };
    wait_for(Duration::from_secs(120), "the first tick", || async {
        Ok((stored().await.unwrap_or(0) >= BATCH).then_some(()))
    })
    .await?;
    scheduler.stop().await?;

    let tasks = stored_tasks(&js).await?;
    assert_eq!(tasks.len() as u64 % BATCH, 0, "whole ticks only");
    for (slot, ids) in ids_by_slot(&tasks) {
        let start = ((slot / 3600) as u64 * BATCH) % LAST;
        let expected: Vec<u64> = (0..BATCH).map(|j| 1 + (start + j) % LAST).collect();
        assert_eq!(ids, expected, "slot {slot}: the batch, in order, once");
    }
    Ok(())
}
