//! A site's own `timeout` replaces `[fetcher] timeout`: against a loopback
//! server that never answers, a site timing out after 300 ms ends as
//! `fetch_failed` with the `timeout` reason long before the fetcher's ten
//! minutes would have.

mod support;

use pagefeed_testkit::config::config_with;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use support::{failure_of, site, spawn_fetcher, Reply, Server, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_timeout_ends_the_fetch() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    let silent = Server::start("127.0.0.1", |_| Reply::Hang).await?;
    let url = format!("{}/slow/{{id}}", silent.url());
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\ntimeout = \"10m\"\nmax_attempts = 1\n",
        &[site(
            "slow",
            &format!("url = \"{url}\"\nids = {{ first = 1, last = 1 }}"),
            "timeout = \"300ms\"\nconnect_timeout = \"200ms\"",
        )],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    publish_tasks(&js, "slow", &url, [1], 0).await?;

    // PATIENCE is far below the fetcher's own ten minutes.
    let failure = wait_for(PATIENCE, "the fetch to fail", || async {
        let events = stored_events(&js).await?;
        Ok(failure_of(&events, "slow.1").cloned())
    })
    .await?;
    fetcher.stop().await?;
    assert_eq!(failure.reason, "timeout", "{failure:?}");
    assert!(failure.detail.contains("timed out"), "{failure:?}");
    assert_eq!(silent.hits(), ["/slow/1"], "the request was made");
    Ok(())
}
