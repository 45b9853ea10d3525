//! Two notifier processes on one config share each destination's consumer:
//! both deliver, every entry arrives, once; SIGTERM stops each cleanly.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use pagefeed_events::streams::ensure_streams;
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::publish_events;
use pagefeed_testkit::wait::wait_for;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_notifiers_share_the_work() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    // A slow receiver, so that one process alone cannot keep up.
    let receiver = Receiver::start(|_, _| Answer::After(Duration::from_millis(100), 200)).await?;
    let cfg = system.write_config(&config(
        &system.nats_url(),
        &format!("{QUICK}\n{}", webhook("hook", &receiver.url)),
    ))?;
    let js = system.jetstream().await?;
    ensure_streams(&js, &cfg).await?;
    let one = start_notifier(&mut system, "notifier-1", &[])?;
    let two = start_notifier(&mut system, "notifier-2", &[])?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&one).await?;
    wait_following(&two).await?;

    let events: Vec<_> = (0..60).map(|n| entry(11, n)).collect();
    let keys = keys(&events);
    publish_events(&js, &events).await?;
    receiver.wait_delivered(&keys, PATIENCE).await?;

    let mut times: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        *times.entry(r.key().to_owned()).or_default() += 1;
    }
    assert_eq!(times.len(), keys.len(), "every entry");
    assert!(times.values().all(|n| *n == 1), "each once: {times:?}");
    let delivered = |url: String| async move {
        wait_for(PATIENCE, "a status", || async {
            Ok(status(&url).await.map(|s| figure(&s, "hook", "delivered")))
        })
        .await
    };
    let (by_one, by_two) = (delivered(one).await?, delivered(two).await?);
    assert_eq!(by_one + by_two, 60);
    assert!(by_one > 0 && by_two > 0, "shared: {by_one} and {by_two}");
    // SIGTERM stops a notifier cleanly.
    for name in ["notifier-1", "notifier-2"] {
        let exit = system[name].terminate(Duration::from_secs(20)).await?;
        assert!(exit.success(), "{name}: {exit}");
    }
    Ok(())
}
