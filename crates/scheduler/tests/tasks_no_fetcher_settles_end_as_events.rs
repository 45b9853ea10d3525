//! Nothing ends silently (issue 14): a task no fetcher takes within
//! `task_ttl`, and a task that reaches the consumer's `max_deliver`, each
//! end as a `fetch_failed` event (reasons `expired` and `max_deliver`)
//! published by the scheduler's sweeper, once even with two schedulers,
//! and leave the queue.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use pagefeed_events::event::{Event, FetchFailed};
use pagefeed_events::streams::{ensure_fetchers_consumer, ensure_streams};
use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_events::Config;
use pagefeed_testkit::config::{config_with, id_site};
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, stored, stored_events};
use pagefeed_testkit::wait::wait_for;

fn scheduler(cfg: &Config) -> Running {
    let cfg = cfg.clone();
    Running::spawn(|token| pagefeed_scheduler::run(pagefeed_scheduler::Options { cfg }, token))
}

/// The `fetch_failed` events stored, by page, with `reason`.
async fn failures(
    js: &async_nats::jetstream::Context,
    reason: &str,
) -> anyhow::Result<BTreeMap<String, Vec<FetchFailed>>> {
    let mut by_page: BTreeMap<String, Vec<FetchFailed>> = BTreeMap::new();
    for event in stored_events(js).await? {
        if let Event::FetchFailed(f) = event {
            if f.reason == reason {
                by_page.entry(f.page.to_string()).or_default().push(f);
            }
        }
    }
    Ok(by_page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_no_fetcher_takes_ends_as_expired_once() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    // A tick every 8 s; tasks live 8 s, the sweeper ends them from 6 s on.
    let cfg = config_with(
        &nats.url(),
        "task_ttl = \"8s\"",
        "[scheduler]\nsweep_every = \"1s\"\n",
        &[id_site(
            "sample",
            "http://127.0.0.1:9/p?id={id}",
            1,
            3,
            3,
            "8s",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    ensure_streams(&js, &cfg).await?;
    let schedulers = [scheduler(&cfg), scheduler(&cfg)];
    let expired = wait_for(Duration::from_secs(30), "three expired tasks", || async {
        let expired = failures(&js, "expired").await?;
        Ok((expired.len() == 3).then_some(expired))
    })
    .await?;
    for s in schedulers {
        s.stop().await?;
    }
    for (page, events) in &expired {
        let mut ends: Vec<_> = events.iter().map(|e| e.failed_at).collect();
        ends.dedup();
        assert_eq!(
            ends.len(),
            events.len(),
            "{page}: a task ended twice: {events:?}"
        );
        assert!(events[0].detail.contains("task_ttl"), "{:?}", events[0]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_past_max_deliver_ends_as_max_deliver() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    // max_deliver = 1 * 2 + 3 = 5 deliveries of 1 s each.
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\nack_wait = \"1s\"\n[scheduler]\nsweep_every = \"1s\"\n",
        &[id_site(
            "sample",
            "http://127.0.0.1:9/p?id={id}",
            1,
            2,
            2,
            "1h",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    ensure_streams(&js, &cfg).await?;
    let consumer = ensure_fetchers_consumer(&js, &cfg).await?;
    let scheduler = scheduler(&cfg);

    // A fetcher that takes every task and never settles one.
    let mut messages = consumer
        .stream()
        .heartbeat(Duration::from_millis(500))
        .expires(Duration::from_secs(2))
        .messages()
        .await?;
    let ended = wait_for(Duration::from_secs(40), "two max_deliver failures", || {
        let js = js.clone();
        async move {
            let ended = failures(&js, "max_deliver").await?;
            Ok((ended.len() == 2).then_some(ended))
        }
    });
    tokio::pin!(ended);
    let ended = loop {
        tokio::select! {
            ended = &mut ended => break ended?,
            _ = messages.next() => {}
        }
    };
    for (page, events) in &ended {
        assert_eq!(events.len(), 1, "{page}: {events:?}");
        assert_eq!(events[0].attempts, 5, "{page}: {events:?}");
    }
    drop(messages);
    wait_for(Duration::from_secs(10), "the queue to empty", || async {
        Ok(stored(&js, TASKS_STREAM).await?.is_empty().then_some(()))
    })
    .await?;
    scheduler.stop().await?;
    Ok(())
}
