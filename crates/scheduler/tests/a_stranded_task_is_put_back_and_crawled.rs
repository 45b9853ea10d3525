//! The stranded-task bug (issue 14): after faults, tasks were left in
//! `PAGEFEED_TASKS` that the `fetchers` consumer would never deliver again
//! (num_pending 0, ack_pending 0, the task still stored), so no fetcher
//! crawled them and nothing said so. The upstream race that leaves them
//! (acks and leader changes interleaving in a clustered work queue) cannot
//! be triggered on demand; this test leaves a task in the very same state
//! another way JetStream does: a fetcher that dies holding it until the
//! consumer's `max_deliver`, while no scheduler listened for the advisory.
//! The sweeper then finds it behind the consumer on two passes, puts it
//! back in the queue, and a real fetcher crawls it.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt as _;
use pagefeed_events::event::Event;
use pagefeed_events::streams::{ensure_fetchers_consumer, ensure_streams, FETCHERS_CONSUMER};
use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_events::task::REQUEUES_HEADER;
use pagefeed_scheduler::sweep::Sweeper;
use pagefeed_testkit::config::{config_with, id_site};
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::sample_site::{SampleSite, SampleSiteOptions};
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored, stored_events};
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_the_consumer_will_never_deliver_is_requeued_and_crawled() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let site = SampleSite::start("127.0.0.1:0".parse()?, SampleSiteOptions::default()).await?;
    // max_attempts 1: max_deliver is 1 * 2 + 3 = 5 deliveries.
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\nack_wait = \"1s\"\n[scheduler]\nsweep_every = \"1s\"\n",
        &[id_site("sample", &site.url_template(), 1, 3, 3, "1h")],
    );
    let js = jetstream_at(&nats.url()).await?;
    ensure_streams(&js, &cfg).await?;
    let consumer = ensure_fetchers_consumer(&js, &cfg).await?;
    publish_tasks(&js, "sample", &site.url_template(), [2], 0).await?;

    // A fetcher that dies holding the task, again and again.
    let mut messages = consumer
        .stream()
        .heartbeat(Duration::from_millis(500))
        .expires(Duration::from_secs(2))
        .messages()
        .await?;
    let mut deliveries = 0;
    while deliveries < 5 {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the consumer ended"))?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        deliveries = msg.info().map_err(|e| anyhow::anyhow!("{e}"))?.delivered;
    }
    // The state the bug leaves: stored, and nothing pending or awaited
    // (JetStream gives up on the task when it would deliver it once more,
    // so the dead fetcher keeps asking meanwhile).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let _ = tokio::time::timeout(Duration::from_millis(500), messages.next()).await;
        let mut consumer: PullConsumer = js
            .get_consumer_from_stream(FETCHERS_CONSUMER, TASKS_STREAM)
            .await?;
        let info = consumer.info().await?;
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the task was never given up: {info:?}"
        );
    }
    drop(messages);
    assert_eq!(
        stored(&js, TASKS_STREAM).await?.len(),
        1,
        "the task is still stored"
    );

    // Two passes: seen behind the consumer, then put back.
    let mut sweeper = Sweeper::new(js.clone(), &cfg);
    let shutdown = CancellationToken::new();
    let first = sweeper.pass(&shutdown).await?;
    assert_eq!((first.suspects, first.requeued), (1, 0), "{first:?}");
    let second = sweeper.pass(&shutdown).await?;
    assert_eq!(second.requeued, 1, "{second:?}");
    let tasks = stored(&js, TASKS_STREAM).await?;
    assert_eq!(tasks.len(), 1, "the copy replaces the original");
    assert_eq!(tasks[0].subject, "pagefeed.tasks.sample.2");
    assert_eq!(
        tasks[0].headers.get(REQUEUES_HEADER).map(|v| v.as_str()),
        Some("1")
    );

    // A real fetcher crawls it, and the queue empties.
    let fetcher = Running::spawn(|token| {
        pagefeed_fetcher::run(
            pagefeed_fetcher::Options {
                cfg: cfg.clone(),
                concurrency: None,
            },
            token,
        )
    });
    wait_for(Duration::from_secs(30), "page 2 to be crawled", || async {
        let crawled = stored_events(&js)
            .await?
            .iter()
            .any(|e| matches!(e, Event::PageCrawled(p) if p.page.to_string() == "sample.2"));
        Ok(crawled.then_some(()))
    })
    .await?;
    wait_for(Duration::from_secs(30), "the queue to empty", || async {
        Ok(stored(&js, TASKS_STREAM).await?.is_empty().then_some(()))
    })
    .await?;
    fetcher.stop().await?;
    Ok(())
}
