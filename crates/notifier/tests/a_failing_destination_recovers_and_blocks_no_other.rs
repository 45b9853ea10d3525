//! A destination that answers 500 gets every entry once it answers 200
//! again; meanwhile a healthy destination receives them all, and the
//! failures show in the log (by name, never by URL), `/status` and
//! `/metrics`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pagefeed_events::streams::ensure_streams;
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::publish_events;
use pagefeed_testkit::wait::wait_for;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_recovers_and_blocks_no_other() -> anyhow::Result<()> {
    let mut system = Services::start().await?;
    let healthy = Arc::new(AtomicBool::new(false));
    let flaky = Receiver::start({
        let healthy = healthy.clone();
        move |_, _| {
            Answer::Status(if healthy.load(Ordering::SeqCst) {
                200
            } else {
                500
            })
        }
    })
    .await?;
    let steady = Receiver::ok().await?;
    let cfg = system.write_config(&config(
        &system.nats_url(),
        &format!(
            "{QUICK}\n{}\n{}",
            webhook("flaky", &flaky.url),
            webhook("steady", &steady.url)
        ),
    ))?;
    let js = system.jetstream().await?;
    ensure_streams(&js, &cfg).await?;
    let status_url = start_notifier(&mut system, "notifier-1", &[])?;
    system.wait_ready(PATIENCE).await?;
    wait_following(&status_url).await?;

    let events: Vec<_> = (0..10).map(|n| entry(5, n)).collect();
    let keys = keys(&events);
    publish_events(&js, &events).await?;

    // The healthy destination gets everything while the other fails.
    steady.wait_delivered(&keys, PATIENCE).await?;
    let failing = wait_for(PATIENCE, "the failures to show", || async {
        let Some(status) = status(&status_url).await else {
            return Ok(None);
        };
        let shown = figure(&status, "flaky", "failed_attempts") >= 8
            && figure(&status, "flaky", "retrying") >= 1;
        Ok(shown.then_some(status))
    })
    .await?;
    assert!(flaky.delivered_keys().is_empty());
    assert_eq!(figure(&failing, "flaky", "delivered"), 0);
    assert_eq!(figure(&failing, "steady", "delivered"), 10);
    let flaky_status = failing["destinations"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "flaky"))
        .cloned()
        .unwrap_or_default();
    assert!(
        flaky_status["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{flaky_status}"
    );
    let metrics = pagefeed_testkit::projector_api::http_client()
        .get(status_url.replace("/status", "/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains(
            r#"pagefeed_notifier_deliveries_total{destination="flaky",outcome="failed"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"pagefeed_notifier_deliveries_total{destination="steady",outcome="delivered"} 10"#
        ),
        "{metrics}"
    );
    let log = system["notifier-1"].log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("destination=flaky")),
        "{log}"
    );
    assert!(!log.contains("s3cret-path"), "a URL in the log: {log}");

    // Recovered: every entry arrives, once each.
    healthy.store(true, Ordering::SeqCst);
    flaky.wait_delivered(&keys, PATIENCE).await?;
    let recovered = wait_for(PATIENCE, "the retries to end", || async {
        let Some(status) = status(&status_url).await else {
            return Ok(None);
        };
        Ok((figure(&status, "flaky", "retrying") == 0).then_some(status))
    })
    .await?;
    assert_eq!(figure(&recovered, "flaky", "delivered"), 10);
    let answered_200 = flaky
        .received()
        .iter()
        .filter(|r| r.answered == Some(200))
        .count();
    assert_eq!(answered_200, 10, "each entry taken once");
    Ok(())
}
