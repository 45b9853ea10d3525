//! The fetchers obey each host's robots.txt (RFC 9309), read for their
//! user agent (the site's `User-Agent` when it sets one): a disallowed page
//! ends as `fetch_failed` `robots_disallowed` without ever being requested;
//! a 404 allows everything, a 503 disallows everything (`robots_unavailable`)
//! until the file is asked for again; `Crawl-delay` spaces the requests to a
//! host; a site with `robots = "ignore"` crawls what the file disallows; and
//! one fetch of a host's file serves every page and every fetcher.

mod support;

use std::time::Duration;

use pagefeed_testkit::config::config_with;
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use support::{crawled, failure_of, page, site, spawn_fetcher, Reply, Server, PATIENCE};

/// Waits until each of `pages` has crawled or failed, and returns the events.
async fn ended(
    js: &async_nats::jetstream::Context,
    pages: &[&str],
) -> anyhow::Result<Vec<pagefeed_events::Event>> {
    wait_for(PATIENCE, "the tasks to end", || async {
        let events = stored_events(js).await?;
        let done = pages
            .iter()
            .all(|p| crawled(&events, p).is_some() || failure_of(&events, p).is_some());
        Ok(done.then_some(events))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_decides_which_pages_are_fetched() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let robots = "User-agent: pagefeed\nDisallow: /private/\n\n\
                  User-agent: *\nDisallow: /\n";
    let server = Server::with_robots(
        "127.0.0.1",
        move |_| Reply::Text(robots.to_owned()),
        |path| Reply::Page(page(path, &["entry"])),
    )
    .await?;
    let url = |path: &str| format!("url = \"{}/{path}/{{id}}\"", server.url());
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 3\nretry_backoff = \"100ms\"\n",
        &[
            site(
                "open",
                &format!("{}\nids = {{ first = 1, last = 3 }}", url("open")),
                "",
            ),
            site(
                "closed",
                &format!("{}\nids = {{ first = 1, last = 1 }}", url("private")),
                "",
            ),
            // Another agent falls in the `*` group, which allows nothing.
            site(
                "agent",
                &format!("{}\nids = {{ first = 1, last = 1 }}", url("open")),
                "headers = { \"User-Agent\" = \"OtherBot/2.0\" }",
            ),
            site(
                "ignoring",
                &format!("{}\nids = {{ first = 2, last = 2 }}", url("private")),
                "robots = \"ignore\"",
            ),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    let template = |path: &str| format!("{}/{path}/{{id}}", server.url());
    publish_tasks(&js, "open", &template("open"), [1, 2, 3], 0).await?;
    publish_tasks(&js, "closed", &template("private"), [1], 0).await?;
    publish_tasks(&js, "agent", &template("open"), [1], 0).await?;
    publish_tasks(&js, "ignoring", &template("private"), [2], 0).await?;
    let events = ended(
        &js,
        &[
            "open.1",
            "open.2",
            "open.3",
            "closed.1",
            "agent.1",
            "ignoring.2",
        ],
    )
    .await?;
    fetcher.stop().await?;

    for open in ["open.1", "open.2", "open.3"] {
        assert!(crawled(&events, open).is_some(), "{open}: {events:?}");
    }
    let closed = failure_of(&events, "closed.1").expect("closed.1 fails");
    assert_eq!(closed.reason, "robots_disallowed", "{closed:?}");
    assert_eq!(closed.attempts, 1, "a disallowed page is not retried");
    assert!(
        closed.detail.contains("/private/1") && closed.detail.contains("pagefeed"),
        "{closed:?}"
    );
    let agent = failure_of(&events, "agent.1").expect("agent.1 fails");
    assert_eq!(agent.reason, "robots_disallowed", "{agent:?}");
    assert!(agent.detail.contains("OtherBot"), "{agent:?}");
    assert!(
        crawled(&events, "ignoring.2").is_some(),
        "robots = \"ignore\" crawls a disallowed page"
    );

    // Pages never requested when disallowed; one robots.txt for them all.
    assert!(
        server.seen_at("/private/1").is_empty(),
        "{:?}",
        server.hits()
    );
    assert_eq!(server.seen_at("/private/2").len(), 1);
    assert_eq!(server.seen_at("/open/1").len(), 1, "{:?}", server.hits());
    let asked = server.robots_requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robots_txt_that_fails_decides_by_its_status() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let missing = Server::with_robots(
        "127.0.0.2",
        |_| Reply::Status(404),
        |_| Reply::Page(page("missing", &["a"])),
    )
    .await?;
    let failing = Server::with_robots(
        "127.0.0.3",
        |_| Reply::Status(503),
        |_| Reply::Page(page("failing", &["b"])),
    )
    .await?;
    // A 503 first, then a file that allows everything.
    let recovering = Server::with_robots(
        "127.0.0.4",
        |asked| match asked {
            0 => Reply::Status(503),
            _ => Reply::Text("User-agent: *\nAllow: /\n".to_owned()),
        },
        |_| Reply::Page(page("recovering", &["c"])),
    )
    .await?;
    let sites = [
        ("missing", missing.url()),
        ("failing", failing.url()),
        ("recovering", recovering.url()),
    ];
    let cfg = config_with(
        &nats.url(),
        "",
        // The 503 is kept for at most robots_ttl: two seconds, here. The
        // attempts come 0.8 s and 2.4 s after the first: the second before
        // the file is due again, the last one after.
        "[fetcher]\nmax_attempts = 3\nretry_backoff = \"800ms\"\nrobots_ttl = \"2s\"\n",
        &sites
            .iter()
            .map(|(name, url)| {
                site(
                    name,
                    &format!("url = \"{url}/p/{{id}}\"\nids = {{ first = 1, last = 1 }}"),
                    "",
                )
            })
            .collect::<Vec<_>>(),
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    for (name, url) in &sites {
        publish_tasks(&js, name, &format!("{url}/p/{{id}}"), [1], 0).await?;
    }
    let events = ended(&js, &["missing.1", "failing.1", "recovering.1"]).await?;
    fetcher.stop().await?;

    assert!(crawled(&events, "missing.1").is_some(), "a 404 allows all");
    let failed = failure_of(&events, "failing.1").expect("a 503 disallows all");
    assert_eq!(failed.reason, "robots_unavailable", "{failed:?}");
    assert_eq!(failed.attempts, 3, "retried, as the host may answer later");
    assert!(failed.detail.contains("503"), "{failed:?}");
    assert!(failing.hits().is_empty(), "{:?}", failing.hits());
    assert_eq!(
        failing.robots_requests().len(),
        2,
        "asked again once its time was up, and only then"
    );
    assert!(
        crawled(&events, "recovering.1").is_some(),
        "the task went back and crawled once robots.txt answered: {events:?}"
    );
    assert!(failure_of(&events, "recovering.1").is_none());
    assert_eq!(recovering.hits(), vec!["/p/1".to_owned()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_delay_spaces_the_requests_to_a_host() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let server = Server::with_robots(
        "127.0.0.1",
        |_| Reply::Text("User-agent: *\nCrawl-delay: 1\nDisallow: /private\n".to_owned()),
        |path| Reply::Page(page(path, &["entry"])),
    )
    .await?;
    let template = format!("{}/p/{{id}}", server.url());
    let cfg = config_with(
        &nats.url(),
        "",
        "",
        &[site(
            "spaced",
            &format!("url = \"{template}\"\nids = {{ first = 1, last = 3 }}"),
            "",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    publish_tasks(&js, "spaced", &template, [1, 2, 3], 0).await?;
    ended(&js, &["spaced.1", "spaced.2", "spaced.3"]).await?;
    fetcher.stop().await?;

    let mut starts: Vec<_> = server.seen().iter().map(|s| s.at).collect();
    starts.sort();
    assert_eq!(starts.len(), 3, "{:?}", server.hits());
    // The fetcher starts requests at least a second apart; what the server
    // sees may be late by a loopback round trip, never by 50 ms.
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(950),
            "two requests {gap:?} apart"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fetchers_share_one_robots_txt() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    // A slow answer, so that both fetchers want it at once.
    let server = Server::with_robots(
        "127.0.0.1",
        |_| {
            Reply::SlowText(
                Duration::from_millis(500),
                "User-agent: *\nAllow: /\n".to_owned(),
            )
        },
        |path| Reply::Page(page(path, &["entry"])),
    )
    .await?;
    let template = format!("{}/p/{{id}}", server.url());
    let cfg = config_with(
        &nats.url(),
        "",
        "",
        &[site(
            "shared",
            &format!("url = \"{template}\"\nids = {{ first = 1, last = 20 }}"),
            "",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let two = |cfg| {
        Running::spawn(|token| {
            pagefeed_fetcher::run(
                pagefeed_fetcher::Options {
                    cfg,
                    concurrency: Some(3),
                },
                token,
            )
        })
    };
    let (first, second) = (two(cfg.clone()), two(cfg));
    publish_tasks(&js, "shared", &template, 1..=20, 0).await?;
    let pages: Vec<String> = (1..=20).map(|id| format!("shared.{id}")).collect();
    let names: Vec<&str> = pages.iter().map(String::as_str).collect();
    let events = ended(&js, &names).await?;
    first.stop().await?;
    second.stop().await?;

    for page in &names {
        assert!(crawled(&events, page).is_some(), "{page}");
    }
    assert_eq!(server.count(), 20, "{:?}", server.hits());
    assert_eq!(server.robots_requests().len(), 1, "one fetch for both");
    // The bucket holds it, readable by an operator.
    let bucket = js.get_key_value("pagefeed_robots").await?;
    let key = format!("http.{}.127.0.0.1", server.port());
    let value = bucket.get(&key).await?.expect("the host's key");
    let value: serde_json::Value = serde_json::from_slice(&value)?;
    assert_eq!(value["state"], "fetched", "{value}");
    assert_eq!(value["verdict"]["kind"], "rules", "{value}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_bucket_values_are_read_within_bounds() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let allowing = |_| Reply::Text("User-agent: *\nAllow: /\n".to_owned());
    let kept = Server::with_robots("127.0.0.1", allowing, |p| Reply::Page(page(p, &["a"]))).await?;
    let garbled =
        Server::with_robots("127.0.0.2", allowing, |p| Reply::Page(page(p, &["b"]))).await?;
    let sites = [("kept", kept.url()), ("garbled", garbled.url())];
    let cfg = config_with(
        &nats.url(),
        "",
        "",
        &sites
            .iter()
            .map(|(name, url)| {
                site(
                    name,
                    &format!("url = \"{url}/p/{{id}}\"\nids = {{ first = 1, last = 1 }}"),
                    "",
                )
            })
            .collect::<Vec<_>>(),
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let bucket = pagefeed_events::streams::ensure_robots(&js, &cfg).await?;
    // A value that claims to last until the year 9999, and one that is not JSON.
    let forever = serde_json::json!({
        "state": "fetched",
        "origin": format!("http://127.0.0.1:{}", kept.port()),
        "fetched_at": "2026-01-01T00:00:00Z",
        "expires_at": "9999-12-31T23:59:59Z",
        "verdict": { "kind": "allow_all", "status": 404, "detail": "404 Not Found" }
    });
    bucket
        .put(
            format!("http.{}.127.0.0.1", kept.port()),
            serde_json::to_vec(&forever)?.into(),
        )
        .await?;
    bucket
        .put(
            format!("http.{}.127.0.0.2", garbled.port()),
            "not json {".into(),
        )
        .await?;
    let fetcher = spawn_fetcher(cfg);
    for (name, url) in &sites {
        publish_tasks(&js, name, &format!("{url}/p/{{id}}"), [1], 0).await?;
    }
    let events = ended(&js, &["kept.1", "garbled.1"]).await?;
    fetcher.stop().await?;

    assert!(crawled(&events, "kept.1").is_some(), "{events:?}");
    assert!(crawled(&events, "garbled.1").is_some(), "{events:?}");
    assert!(
        kept.robots_requests().is_empty(),
        "the stored value was used"
    );
    assert_eq!(
        garbled.robots_requests().len(),
        1,
        "the garbled one fetched anew"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robots_txt_redirect_is_followed_within_the_address_policy() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    // Another host on loopback, which the site's policy does not allow.
    let inside = Server::start("127.0.0.2", |_| {
        Reply::Text("User-agent: *\nAllow: /\n".to_owned())
    })
    .await?;
    let inside_url = inside.url();
    let moved = Server::with_robots(
        "127.0.0.1",
        |_| Reply::Redirect("/real-robots.txt".to_owned()),
        |path| match path {
            "/real-robots.txt" => Reply::Text("User-agent: *\nDisallow: /p/2\n".to_owned()),
            _ => Reply::Page(page(path, &["a"])),
        },
    )
    .await?;
    let away = Server::with_robots(
        "127.0.0.1",
        move |_| Reply::Redirect(format!("{inside_url}/robots.txt")),
        |path| Reply::Page(page(path, &["b"])),
    )
    .await?;
    let (moved_t, away_t) = (
        format!("{}/p/{{id}}", moved.url()),
        format!("{}/p/{{id}}", away.url()),
    );
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\n",
        &[
            site(
                "moved",
                &format!("url = \"{moved_t}\"\nids = {{ first = 1, last = 2 }}"),
                "",
            ),
            site(
                "away",
                &format!("url = \"{away_t}\"\nids = {{ first = 1, last = 1 }}"),
                "",
            ),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    publish_tasks(&js, "moved", &moved_t, [1, 2], 0).await?;
    publish_tasks(&js, "away", &away_t, [1], 0).await?;
    let events = ended(&js, &["moved.1", "moved.2", "away.1"]).await?;
    fetcher.stop().await?;

    assert!(crawled(&events, "moved.1").is_some(), "{events:?}");
    let refused = failure_of(&events, "moved.2").expect("the redirected file disallows it");
    assert_eq!(refused.reason, "robots_disallowed", "{refused:?}");
    assert!(moved.seen_at("/p/2").is_empty());
    let blocked = failure_of(&events, "away.1").expect("away.1 fails");
    assert_eq!(blocked.reason, "blocked_redirect", "{blocked:?}");
    assert!(blocked.detail.contains("robots.txt"), "{blocked:?}");
    assert_eq!(inside.count() + inside.robots_requests().len(), 0);
    assert!(away.hits().is_empty(), "{:?}", away.hits());
    Ok(())
}
