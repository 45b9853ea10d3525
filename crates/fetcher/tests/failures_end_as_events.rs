//! Every way the sample site fails ends as a `fetch_failed` event with the
//! right reason: a permanent failure (404, an oversized page, no entries, a
//! redirect loop) after one attempt, one request; a transient one (5xx, 429,
//! a timeout, a refused connection) after exactly `max_attempts`.
//! `Retry-After` is honoured between attempts; a page that recovers ends as a
//! crawl.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pagefeed_events::event::Event;
use pagefeed_testkit::config::{config_with, id_site};
use pagefeed_testkit::nats::{free_port, NatsServer};
use pagefeed_testkit::sample_site::{SampleSite, SampleSiteOptions};
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;

use support::spawn_fetcher;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_mode_ends_as_the_right_event() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let site = SampleSite::start(
        "127.0.0.1:0".parse()?,
        SampleSiteOptions {
            slow_body: Duration::from_secs(5),
            ..SampleSiteOptions::default()
        },
    )
    .await?;
    let closed = format!("http://127.0.0.1:{}/p?id={{id}}", free_port()?);
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 3\nretry_backoff = \"100ms\"\ntimeout = \"1s\"\nack_wait = \"5s\"\n",
        &[
            id_site("sample", &site.url_template(), 1, 500, 500, "1h"),
            id_site("dead", &closed, 1, 1, 1, "1h"),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);

    // (id, reason, status, attempts): a permanent failure is not retried.
    let failing: [(u64, &str, Option<u16>, u32); 8] = [
        (13, "http_status", Some(404), 1),
        (14, "http_status", Some(500), 3),
        (15, "http_status", Some(429), 3),
        (16, "http_status", Some(503), 3),
        (17, "timeout", None, 3),
        (18, "too_large", None, 1),
        (23, "no_entries", None, 1),
        (26, "too_many_redirects", None, 1),
    ];
    let started = Instant::now();
    publish_tasks(
        &js,
        "sample",
        &site.url_template(),
        failing.iter().map(|f| f.0).chain([24, 25]),
        0,
    )
    .await?;
    publish_tasks(&js, "dead", &closed, [1], 0).await?;

    let events = wait_for(Duration::from_secs(60), "every task to end", || async {
        let events = stored_events(&js).await?;
        let ended = events
            .iter()
            .filter(|e| matches!(e, Event::FetchFailed(_) | Event::PageCrawled(_)))
            .count();
        Ok((ended >= failing.len() + 3).then_some(events))
    })
    .await?;
    let elapsed = started.elapsed();

    let failed: HashMap<String, _> = events
        .iter()
        .filter_map(|e| match e {
            Event::FetchFailed(f) => Some((f.page.to_string(), f.clone())),
            _ => None,
        })
        .collect();
    for (id, reason, status, attempts) in failing {
        let f = failed
            .get(&format!("sample.{id}"))
            .unwrap_or_else(|| panic!("no fetch_failed for id {id}: {failed:?}"));
        assert_eq!(f.reason, reason, "id {id}: {f:?}");
        assert_eq!(f.status, status, "id {id}");
        assert_eq!(f.attempts, attempts, "id {id}");
        if id != 26 {
            assert_eq!(
                site.requests(id),
                u64::from(attempts),
                "id {id} was fetched once per attempt"
            );
        }
    }
    let dead = failed
        .get("dead.1")
        .expect("a fetch_failed for the dead host");
    assert_eq!(dead.reason, "connect", "{dead:?}");
    assert_eq!(dead.attempts, 3, "a refused connection is retried");

    // 429 and 503 said `Retry-After: 1`: two waits of at least a second each,
    // where the back-off alone would have waited 100 ms + 200 ms.
    assert!(
        elapsed >= Duration::from_secs(2),
        "Retry-After ignored: {elapsed:?}"
    );

    // The flaky page (500, 500, then fine) and the rate-limited-once page recover.
    for id in [24, 25] {
        let crawled = events.iter().any(
            |e| matches!(e, Event::PageCrawled(p) if p.page.to_string() == format!("sample.{id}")),
        );
        assert!(crawled, "id {id} ends as a crawl");
        assert!(!failed.contains_key(&format!("sample.{id}")));
    }
    assert_eq!(site.requests(24), 3);
    assert_eq!(site.requests(25), 2);

    fetcher.stop().await?;
    Ok(())
}
