//! A fetcher stopped while it has more tasks than it can start hands every
//! one of them back at once: another fetcher crawls them all right away, not
//! after `ack_wait` (set to a minute here, so that waiting it out would fail
//! the test).

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use axum::extract::Query;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use pagefeed_events::event::Event;
use pagefeed_events::streams::FETCHERS_CONSUMER;
use pagefeed_events::subject::TASKS_STREAM;
use pagefeed_testkit::config::config_with;
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

use support::{page, site};

const PAGES: u64 = 10;

/// A site whose pages answer after `delay` while `slow` is set, at once after.
async fn site_server(slow: Arc<AtomicBool>, stop: CancellationToken) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route(
        "/p",
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let slow = slow.clone();
                async move {
                    while slow.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let id = q.get("id").cloned().unwrap_or_default();
                    (
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        page(&format!("page {id}"), &[&format!("entry of page {id}")]),
                    )
                }
            },
        ),
    );
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Ok(format!("http://{addr}/p?id={{id}}"))
}

fn spawn_fetcher(cfg: pagefeed_events::Config, concurrency: usize) -> Running {
    Running::spawn(move |token| {
        pagefeed_fetcher::run(
            pagefeed_fetcher::Options {
                cfg,
                concurrency: Some(concurrency),
            },
            token,
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_fetcher_hands_back_the_tasks_it_held() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let slow = Arc::new(AtomicBool::new(true));
    let stop_site = CancellationToken::new();
    let _stop_site = stop_site.clone().drop_guard();
    let url = site_server(slow.clone(), stop_site).await?;
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nack_wait = \"60s\"\ntimeout = \"120s\"\n",
        &[site(
            "slow",
            &format!("url = \"{url}\"\nids = {{ first = 1, last = {PAGES} }}\nbatch = {PAGES}"),
            "",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    publish_tasks(&js, "slow", &url, 1..=PAGES, 1).await?;

    // Two slots, both taken by pages that do not answer.
    let first = spawn_fetcher(cfg.clone(), 2);
    let mut consumer: PullConsumer =
        wait_for(Duration::from_secs(20), "the fetchers' consumer", || {
            let js = js.clone();
            async move {
                Ok(js
                    .get_consumer_from_stream(FETCHERS_CONSUMER, TASKS_STREAM)
                    .await
                    .ok())
            }
        })
        .await?;
    wait_for(Duration::from_secs(20), "two tasks in flight", || {
        let mut consumer = consumer.clone();
        async move { Ok((consumer.info().await?.num_ack_pending >= 2).then_some(())) }
    })
    .await?;
    // Give the client the time to receive whatever it asked for beyond its
    // two slots (the old code asked for a second batch at once).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = consumer.info().await?.num_ack_pending;
    first.stop().await?;

    // Another fetcher crawls every page, long before ack_wait: the tasks the
    // first one held come back at once (a nak'ed task stays ack-pending on
    // the server until redelivered, so that count says nothing here).
    slow.store(false, Ordering::SeqCst);
    let second = spawn_fetcher(cfg.clone(), 4);
    let started = Instant::now();
    let crawled = || async {
        let events = stored_events(&js).await?;
        let pages: BTreeSet<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::PageCrawled(p) => Some(p.page.to_string()),
                _ => None,
            })
            .collect();
        anyhow::Ok(pages)
    };
    let all = wait_for(Duration::from_secs(15), "every page crawled", || async {
        Ok((crawled().await?.len() as u64 >= PAGES).then_some(()))
    })
    .await;
    let info = consumer.info().await?.clone();
    assert!(
        all.is_ok(),
        "held {held} tasks with 2 slots when stopped; {} of {PAGES} pages crawled {:?} later \
         (ack_wait 60 s); consumer: {} ack-pending, {} pending",
        crawled().await?.len(),
        started.elapsed(),
        info.num_ack_pending,
        info.num_pending
    );
    // Nor did it hold, while running, more tasks than it could start: a
    // task waiting in a busy process has its ack_wait running.
    assert!(held <= 2, "held {held} tasks with 2 slots");
    second.stop().await?;
    Ok(())
}
