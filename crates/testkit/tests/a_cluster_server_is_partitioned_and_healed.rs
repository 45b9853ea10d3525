//! A three-node cluster whose routes go through proxies: a message published
//! on n1 for a subscriber on n3 does not arrive while n3 is partitioned, and
//! arrives once healed. Silent: the message held in the route arrives after
//! the heal, and n3 keeps its routes meanwhile. Refused: n3 loses its routes
//! (so none goes around the proxies), and gets them back.

use std::time::Duration;

use futures::StreamExt as _;
use pagefeed_testkit::nats::{NatsCluster, Partition};
use pagefeed_testkit::wait::wait_for;

/// How many routes server `i` has, from its monitoring endpoint's `/routez`.
async fn routes(cluster: &NatsCluster, i: usize) -> anyhow::Result<u64> {
    let monitor = cluster.servers[i].monitor_url().expect("a monitoring port");
    let routez: serde_json::Value = pagefeed_testkit::projector_api::http_client()
        .get(format!("{monitor}/routez"))
        .send()
        .await?
        .json()
        .await?;
    Ok(routez["num_routes"].as_u64().unwrap_or(0))
}

/// Whether `subscriber` gets a message within `within`.
async fn receives(subscriber: &mut async_nats::Subscriber, within: Duration) -> Option<String> {
    let message = tokio::time::timeout(within, subscriber.next())
        .await
        .ok()??;
    Some(String::from_utf8_lossy(&message.payload).into_owned())
}

/// Publishes `payload` on n1 every 300 ms until `subscriber` gets a
/// message, at most 30 s; returns what it got.
async fn publish_until_received(
    on_n1: &async_nats::Client,
    subscriber: &mut async_nats::Subscriber,
    payload: &'static str,
) -> anyhow::Result<String> {
    for _ in 0..100 {
        on_n1.publish("partition.test", payload.into()).await?;
        on_n1.flush().await?;
        if let Some(got) = receives(subscriber, Duration::from_millis(300)).await {
            return Ok(got);
        }
    }
    anyhow::bail!("n3's subscriber got nothing within 30 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_server_hears_nothing_until_healed() -> anyhow::Result<()> {
    let mut cluster = NatsCluster::start_partitionable(3).await?;
    assert!(
        cluster.partition(3, Partition::Silent).is_err(),
        "no server 3"
    );
    let on_n1 = async_nats::connect(cluster.servers[0].url()).await?;
    let on_n3 = async_nats::connect(cluster.servers[2].url()).await?;
    let mut subscriber = on_n3.subscribe("partition.test").await?;
    on_n3.flush().await?;
    // The interest reaches n1 through a route.
    publish_until_received(&on_n1, &mut subscriber, "hello").await?;
    while receives(&mut subscriber, Duration::from_millis(300))
        .await
        .is_some()
    {}
    let routes_before = routes(&cluster, 2).await?;
    assert!(routes_before > 0, "n3 has routes");

    // Silent: held, then delivered.
    cluster.partition(2, Partition::Silent)?;
    assert_eq!(cluster.partitioned(), [2]);
    on_n1.publish("partition.test", "held".into()).await?;
    on_n1.flush().await?;
    assert_eq!(
        receives(&mut subscriber, Duration::from_secs(2)).await,
        None,
        "nothing reaches n3 while it is silenced"
    );
    assert_eq!(
        routes(&cluster, 2).await?,
        routes_before,
        "n3's routes stay open"
    );
    cluster.heal(2);
    assert_eq!(
        receives(&mut subscriber, Duration::from_secs(20))
            .await
            .as_deref(),
        Some("held"),
        "what the route held arrives after the heal"
    );

    // Refused: the routes close, and come back.
    cluster.partition(2, Partition::Refused)?;
    wait_for(Duration::from_secs(20), "n3 to lose its routes", || async {
        Ok((routes(&cluster, 2).await? == 0).then_some(()))
    })
    .await?;
    on_n1.publish("partition.test", "lost".into()).await?;
    on_n1.flush().await?;
    assert_eq!(
        receives(&mut subscriber, Duration::from_secs(2)).await,
        None,
        "nothing reaches n3 while its routes are refused"
    );
    cluster.heal(2);
    assert!(cluster.partitioned().is_empty());
    let back = publish_until_received(&on_n1, &mut subscriber, "back").await?;
    assert_eq!(
        back, "back",
        "a message published during the refusal stays lost"
    );
    Ok(())
}
