//! A site's `headers` and `cookies` reach its pages, on the first GET and on
//! the conditional one (If-None-Match) alike; its `User-Agent` replaces the
//! fetcher's, which another site still sends. A redirect to another host
//! (127.0.0.1 to 127.0.0.2) carries neither the cookie nor the API key, only
//! the headers that say how the fetcher presents itself. Neither secret
//! appears in a published event or anywhere in the log of the real
//! `pagefeed-fetcher` binary, run at the trace level of every crate.

mod support;

use std::time::Duration;

use pagefeed_events::Config;
use pagefeed_testkit::config::config_text;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::process::{Process, ServiceCommand};
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use support::{crawled, failure_of, page, site, unchanged, Reply, Server, PATIENCE};

const COOKIE_SECRET: &str = "cookie-SECRET-0815";
const KEY_SECRET: &str = "key-SECRET-4711";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_cookies_reach_the_site_and_stay_on_its_host() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let elsewhere =
        Server::start("127.0.0.2", |_| Reply::Page(page("elsewhere", &["landed"]))).await?;
    let landing = format!("{}/landing", elsewhere.url());
    let origin = Server::start("127.0.0.1", move |path| match path {
        "/p/1" => Reply::Tagged {
            html: page("tagged", &["one"]),
            etag: "\"v1\"".to_owned(),
        },
        "/p/2" => Reply::Redirect(landing.clone()),
        _ => Reply::Page(page("plain", &["two"])),
    })
    .await?;

    let shop = format!("{}/p/{{id}}", origin.url());
    let plain = format!("{}/q/{{id}}", origin.url());
    let text = config_text(
        &nats.url(),
        "",
        "[fetcher]\nuser_agent = \"FetcherAgent/9\"\nmax_attempts = 1\n",
        &[
            site(
                "shop",
                &format!("url = \"{shop}\"\nids = {{ first = 1, last = 2 }}"),
                &format!(
                    "allow_networks = [\"127.0.0.0/8\"]\n\
                     headers = {{ \"User-Agent\" = \"SiteAgent/1.0\", \
                     \"Accept-Language\" = \"ja,en;q=0.5\", \"X-Api-Key\" = \"{KEY_SECRET}\" }}\n\
                     cookies = {{ session = \"{COOKIE_SECRET}\", lang = \"ja\" }}"
                ),
            ),
            site(
                "plain",
                &format!("url = \"{plain}\"\nids = {{ first = 1, last = 1 }}"),
                "",
            ),
        ],
    );
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(&config, &text)?;
    let cfg = Config::load(&config)?;
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;

    let command = ServiceCommand::new("fetcher", env!("CARGO_BIN_EXE_pagefeed-fetcher"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "trace");
    let mut fetcher = Process::start(command, dir.path().join("fetcher.log"))?;

    publish_tasks(&js, "shop", &shop, [1, 2], 0).await?;
    publish_tasks(&js, "plain", &plain, [1], 0).await?;
    wait_for(PATIENCE, "the first crawls", || async {
        let events = stored_events(&js).await?;
        let done = ["shop.1", "shop.2", "plain.1"]
            .iter()
            .all(|p| crawled(&events, p).is_some() || failure_of(&events, p).is_some());
        Ok(done.then_some(()))
    })
    .await?;
    // The next slot's crawl of shop.1 is a conditional GET.
    publish_tasks(&js, "shop", &shop, [1], 1).await?;
    let events = wait_for(PATIENCE, "the conditional GET", || async {
        let events = stored_events(&js).await?;
        Ok((!unchanged(&events, "shop.1").is_empty()).then_some(events))
    })
    .await?;
    fetcher.terminate(Duration::from_secs(20)).await?;

    let cookie = format!("lang=ja; session={COOKIE_SECRET}");
    let first = origin.seen_at("/p/1");
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[1].header("if-none-match"), Some("\"v1\""));
    for seen in first.iter().chain(&origin.seen_at("/p/2")) {
        assert_eq!(seen.header("cookie"), Some(cookie.as_str()), "{seen:?}");
        assert_eq!(seen.header("x-api-key"), Some(KEY_SECRET), "{seen:?}");
        assert_eq!(seen.header("user-agent"), Some("SiteAgent/1.0"), "{seen:?}");
        assert_eq!(seen.header("accept-language"), Some("ja,en;q=0.5"));
    }

    let followed = crawled(&events, "shop.2").expect("the redirect is followed");
    assert_eq!(followed.title, "elsewhere");
    let landed = elsewhere.seen_at("/landing");
    assert_eq!(landed.len(), 1, "{:?}", elsewhere.hits());
    assert_eq!(landed[0].header("cookie"), None, "{landed:?}");
    assert_eq!(landed[0].header("x-api-key"), None, "{landed:?}");
    assert_eq!(landed[0].header("user-agent"), Some("SiteAgent/1.0"));
    assert_eq!(landed[0].header("accept-language"), Some("ja,en;q=0.5"));

    let other = origin.seen_at("/q/1");
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].header("user-agent"), Some("FetcherAgent/9"));
    assert_eq!(other[0].header("cookie"), None);
    assert_eq!(other[0].header("accept-language"), None);

    for event in &events {
        let json = String::from_utf8(event.encode())?;
        assert!(!json.contains("SECRET"), "{json}");
    }
    let log = fetcher.log();
    assert!(
        log.contains("following a redirect") && log.contains("TRACE"),
        "the log is the trace of the run:\n{log}"
    );
    for secret in [COOKIE_SECRET, KEY_SECRET] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
    Ok(())
}
