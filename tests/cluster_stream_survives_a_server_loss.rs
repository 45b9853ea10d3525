//! A three-node loopback cluster with the streams at replicas=3: one server
//! stops, the scheduler keeps publishing and nothing stored is lost.

use std::time::Duration;

use pagefeed_e2e::spawn_scheduler;
use pagefeed_events::subject::{EVENTS_STREAM, TASKS_STREAM};
use pagefeed_testkit::config::{config, id_site};
use pagefeed_testkit::nats::NatsCluster;
use pagefeed_testkit::streams::{ids_by_slot, jetstream_at, stored_tasks};
use pagefeed_testkit::wait::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_stream_survives_one_server_stopped() -> anyhow::Result<()> {
    let mut cluster = NatsCluster::start(3).await?;
    let cfg = config(
        &cluster.urls(),
        3,
        &[id_site("cl", "http://127.0.0.1:9/p?id={id}", 1, 4, 4, "1s")],
    );
    let scheduler = spawn_scheduler(cfg);

    // Read through the third server, which stays up.
    let survivor = cluster.servers[2].url();
    let js = jetstream_at(&survivor).await?;
    wait_for(
        Duration::from_secs(60),
        "two ticks on the cluster",
        || async {
            Ok(
                (ids_by_slot(&stored_tasks(&js).await.unwrap_or_default()).len() >= 2)
                    .then_some(()),
            )
        },
    )
    .await?;
    for name in [TASKS_STREAM, EVENTS_STREAM] {
        let info = js.get_stream(name).await?.info().await?.clone();
        assert_eq!(info.config.num_replicas, 3, "{name} is replicated");
        let cluster_info = info.cluster.expect("cluster info");
        assert_eq!(cluster_info.replicas.len(), 2, "{name} has two followers");
    }
    let before = stored_tasks(&js).await?.len();

    cluster.servers[0].stop();
    // The scheduler (connected to any of the three) goes on; the stream
    // elects a new leader if it lost one.
    wait_for(
        Duration::from_secs(60),
        "three more ticks with a server down",
        || async {
            let now = ids_by_slot(&stored_tasks(&js).await.unwrap_or_default()).len();
            Ok((now >= before / 4 + 3).then_some(()))
        },
    )
    .await?;
    scheduler.stop().await?;

    let tasks = stored_tasks(&js).await?;
    assert!(
        tasks.len() >= before + 12,
        "ticks kept landing: {} then {}",
        before,
        tasks.len()
    );
    for (slot, ids) in ids_by_slot(&tasks) {
        assert_eq!(ids, vec![1, 2, 3, 4], "slot {slot} stored whole and once");
    }
    Ok(())
}
