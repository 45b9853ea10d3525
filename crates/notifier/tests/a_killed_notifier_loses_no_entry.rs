//! A notifier killed with SIGKILL while a receiver holds one of its
//! requests open, then started again: every entry arrives, each with its
//! idempotency key, and the only repeats are of deliveries that were in
//! flight (the same key twice).

mod support;

use std::collections::HashMap;

use pagefeed_events::streams::ensure_streams;
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::publish_events;
use pagefeed_testkit::wait::wait_for;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_notifier_loses_no_entry() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let events: Vec<_> = (0..20).map(|n| entry(3, n)).collect();
    let keys = keys(&events);
    let held = keys[0].clone();
    // The first request of the first entry is never answered.
    let receiver = Receiver::start({
        let held = held.clone();
        move |key, before| {
            if key == held && before == 0 {
                Answer::Hold
            } else {
                Answer::Status(200)
            }
        }
    })
    .await?;
    let cfg = system.write_config(&config(
        &system.nats_url(),
        &format!("{QUICK}\n{}", webhook("hook", &receiver.url)),
    ))?;
    let js = system.jetstream().await?;
    ensure_streams(&js, &cfg).await?;
    let status = start_notifier(&mut system, "notifier-1", &[])?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&status).await?;

    publish_events(&js, &events).await?;
    wait_for(PATIENCE, "the held request", || async {
        Ok(receiver
            .received()
            .iter()
            .any(|r| r.key() == held)
            .then_some(()))
    })
    .await?;
    system["notifier-1"].kill()?; // SIGKILL, mid-delivery
    system["notifier-1"].restart()?;
    system.wait_ready(PATIENCE).await?;

    receiver
        .wait_delivered(&keys, PATIENCE)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", system.log_tails(30)))?;
    let received = receiver.received();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        assert_eq!(r.method, "POST");
        assert!(keys.iter().any(|k| k == r.key()), "an unknown key: {r:?}");
        assert_eq!(
            r.json()["idempotency_key"],
            r.key(),
            "the body carries the key"
        );
        *times.entry(r.key()).or_default() += 1;
    }
    assert_eq!(times.len(), keys.len(), "every entry");
    assert_eq!(times[held.as_str()], 2, "the held delivery was made again");
    // Only what the killed process had in flight (4 slots) can come twice.
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.len() <= 4, "{twice:?}");
    assert!(times.values().all(|n| *n <= 2), "{times:?}");
    Ok(())
}
