//! A task is a request to crawl a configured page, nothing more: its `url`
//! is never fetched (the configured one is), and a task whose subject and
//! page disagree, that names a page or site the config does not have, or that
//! does not decode, ends as `fetch_failed` after one attempt.

mod support;

use std::time::Duration;

use async_nats::HeaderMap;
use pagefeed_events::{PageKey, Task};
use pagefeed_testkit::config::config_with;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, stored_events, wait_tasks_settled};
use pagefeed_testkit::wait::wait_for;
use support::{crawled, failure_of, page, site, spawn_fetcher, Reply, Server, PATIENCE};

/// Publishes `payload` on `subject` as a hand-written task.
async fn publish_raw(
    js: &async_nats::jetstream::Context,
    subject: &str,
    payload: Vec<u8>,
) -> anyhow::Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("forged:{subject}").as_str());
    js.publish_with_headers(subject.to_owned(), headers, payload.into())
        .await?
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tasks_reach_no_other_host() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let decoy = Server::start("127.0.0.3", |_| Reply::Page(page("decoy", &["stolen"]))).await?;
    let origin = Server::start("127.0.0.1", |path| {
        Reply::Page(page(&format!("page {path}"), &["an entry"]))
    })
    .await?;
    let template = format!("{}/page/{{id}}", origin.url());
    let listed = format!("{}/list/a", origin.url());
    let cfg = config_with(
        &nats.url(),
        "",
        support::RETRYING_FETCHER,
        &[
            site(
                "s",
                &format!("url = \"{template}\"\nids = {{ first = 1, last = 5 }}"),
                "",
            ),
            site("l", &format!("pages = {{ a = \"{listed}\" }}"), ""),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);

    let steal = format!("{}/steal", decoy.url());
    let forged = |page: &str| Task::new(page.parse::<PageKey>().unwrap(), steal.clone(), 0);
    // A configured page with a foreign URL: the configured URL is fetched.
    publish_raw(&js, "pagefeed.tasks.s.1", forged("s.1").encode()).await?;
    publish_raw(&js, "pagefeed.tasks.l.a", forged("l.a").encode()).await?;
    // The subject says s.2, the task s.3.
    publish_raw(&js, "pagefeed.tasks.s.2", forged("s.3").encode()).await?;
    // Pages and sites the config does not have.
    for page in ["s.99", "s.007", "s.0", "l.zzz", "nosite.1"] {
        publish_raw(
            &js,
            &format!("pagefeed.tasks.{page}"),
            forged(page).encode(),
        )
        .await?;
    }
    // Not a task at all, on a configured page's subject.
    publish_raw(
        &js,
        "pagefeed.tasks.s.4",
        b"{\"v\":1,\"type\":\"crawl\"}".to_vec(),
    )
    .await?;

    let expected = [
        ("s.2", "bad_task"),
        ("s.4", "bad_task"),
        ("s.99", "unknown_page"),
        ("s.007", "unknown_page"),
        ("s.0", "unknown_page"),
        ("l.zzz", "unknown_page"),
        ("nosite.1", "unknown_site"),
    ];
    let events = wait_for(PATIENCE, "every task to end", || async {
        let events = stored_events(&js).await?;
        let done = expected
            .iter()
            .all(|(p, _)| failure_of(&events, p).is_some() || crawled(&events, p).is_some())
            && ["s.1", "l.a"]
                .iter()
                .all(|p| failure_of(&events, p).is_some() || crawled(&events, p).is_some());
        Ok(done.then_some(events))
    })
    .await?;

    for (page, reason) in expected {
        let failure = failure_of(&events, page)
            .unwrap_or_else(|| panic!("{page}: no fetch_failed in {events:#?}"));
        assert_eq!(failure.reason, reason, "{page}: {failure:?}");
        assert_eq!(failure.attempts, 1, "{page}: a bad task is not retried");
        assert!(crawled(&events, page).is_none(), "{page} was crawled");
    }
    let s1 = crawled(&events, "s.1").expect("s.1 is crawled from its configured URL");
    assert_eq!(s1.url, template.replace("{id}", "1"));
    assert_eq!(s1.title, "page /page/1");
    let la = crawled(&events, "l.a").expect("l.a is crawled from its configured URL");
    assert_eq!(la.url, listed);
    assert_eq!(
        decoy.count(),
        0,
        "the task's URL was fetched: {:?}",
        decoy.hits()
    );
    let mut hits = origin.hits();
    hits.sort();
    assert_eq!(
        hits,
        ["/list/a", "/page/1"],
        "only configured pages are fetched"
    );

    // Every task was settled: nothing is left to redeliver.
    wait_tasks_settled(&js, Duration::from_secs(10)).await?;

    fetcher.stop().await?;
    Ok(())
}
