//! A page with an entry larger than the server's `max_payload` cannot be
//! published: the task ends, once, as `fetch_failed` with reason `too_large`
//! naming the event and its size; no `page_crawled` claims entries that are
//! not in the log, and the fetch state is not saved.

mod support;

use std::time::Duration;

use pagefeed_events::event::Event;
use pagefeed_testkit::config::config_with;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;
use support::{failure_of, page, site, spawn_fetcher, Reply, Server, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpublishable_entry_fails_the_task_once() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start_with("max_payload: 32768").await?;
    let huge = "x".repeat(40 * 1024);
    let origin = Server::start("127.0.0.1", move |_| {
        Reply::Page(page("big", &["a small entry", &huge]))
    })
    .await?;
    let template = format!("{}/page/{{id}}", origin.url());
    let cfg = config_with(
        &nats.url(),
        "",
        support::RETRYING_FETCHER,
        &[site(
            "big",
            &format!("url = \"{template}\"\nids = {{ first = 1, last = 1 }}"),
            "",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg.clone());
    publish_tasks(&js, "big", &template, [1], 0).await?;

    let events = wait_for(PATIENCE, "the task to fail", || async {
        let events = stored_events(&js).await?;
        Ok(failure_of(&events, "big.1").is_some().then_some(events))
    })
    .await?;
    let failure = failure_of(&events, "big.1").expect("a fetch_failed");
    assert_eq!(failure.reason, "too_large", "{failure:?}");
    assert_eq!(failure.attempts, 1, "{failure:?}");
    assert!(
        failure.detail.contains("entry_observed"),
        "the detail names the event: {}",
        failure.detail
    );
    assert!(
        failure.detail.contains("bytes"),
        "the detail gives the size: {}",
        failure.detail
    );

    // The task was acked, so nothing comes back to loop on.
    wait_tasks_settled(&js, Duration::from_secs(10)).await?;
    assert_eq!(origin.count(), 1, "the page was fetched once");
    let events = stored_events(&js).await?;
    let records = events
        .iter()
        .filter(|e| matches!(e, Event::PageCrawled(_) | Event::PageUnchanged(_)))
        .count();
    assert_eq!(
        records, 0,
        "a page record claims unpublished entries: {events:#?}"
    );
    let failures = events
        .iter()
        .filter(|e| matches!(e, Event::FetchFailed(_)))
        .count();
    assert_eq!(failures, 1);
    let state = pagefeed_events::streams::ensure_fetch_state(&js, &cfg).await?;
    assert_eq!(
        state.get("big.1").await?,
        None,
        "the fetch state records entries that were not published"
    );

    fetcher.stop().await?;
    Ok(())
}
