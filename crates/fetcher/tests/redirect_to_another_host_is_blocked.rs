//! A configured page that redirects to another host on a private or loopback
//! address ends as `fetch_failed` before anything connects there: an IP
//! literal is refused by the redirect policy (`blocked_redirect`), a hostname
//! by the resolver (`blocked_address`), after one attempt. A site whose
//! `allow_networks` holds that network follows the same redirect.

mod support;

use pagefeed_testkit::config::config_with;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{jetstream_at, publish_tasks, stored_events};
use pagefeed_testkit::wait::wait_for;
use support::{crawled, failure_of, page, site, spawn_fetcher, Reply, Server, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_other_hosts_stop_at_the_policy() -> anyhow::Result<()> {
    pagefeed_testkit::logs::init_logs();
    let nats = NatsServer::start().await?;
    // "Other hosts": one that must never be reached, one an operator allows,
    // and a listener reached by the name `localhost`.
    let forbidden =
        Server::start("127.0.0.2", |_| Reply::Page(page("inside", &["secret"]))).await?;
    let allowed = Server::start("127.0.0.2", |_| Reply::Page(page("ok", &["hello"]))).await?;
    let by_name = Server::start("127.0.0.1", |_| Reply::Page(page("inside", &["secret"]))).await?;
    let allowed_by_name =
        Server::start("127.0.0.1", |_| Reply::Page(page("named", &["hi"]))).await?;
    let (forbidden_url, allowed_url) = (forbidden.url(), allowed.url());
    let by_name_url = format!("http://localhost:{}/", by_name.port());
    let allowed_by_name_url = format!("http://localhost:{}/named", allowed_by_name.port());
    let origin = Server::start("127.0.0.1", move |path| match path {
        "/guarded/1" => Reply::Redirect(format!("{forbidden_url}/metadata")),
        "/guarded/2" => Reply::Redirect(by_name_url.clone()),
        "/open/2" => Reply::Redirect(allowed_by_name_url.clone()),
        _ => Reply::Redirect(format!("{allowed_url}/page")),
    })
    .await?;

    let guarded = format!("{}/guarded/{{id}}", origin.url());
    let open = format!("{}/open/{{id}}", origin.url());
    let cfg = config_with(
        &nats.url(),
        "",
        support::RETRYING_FETCHER,
        &[
            site(
                "guarded",
                &format!("url = \"{guarded}\"\nids = {{ first = 1, last = 2 }}"),
                "",
            ),
            site(
                "open",
                &format!("url = \"{open}\"\nids = {{ first = 1, last = 2 }}"),
                "allow_networks = [\"127.0.0.0/8\"]",
            ),
        ],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let fetcher = spawn_fetcher(cfg);
    publish_tasks(&js, "guarded", &guarded, [1, 2], 0).await?;
    publish_tasks(&js, "open", &open, [1, 2], 0).await?;

    let events = wait_for(PATIENCE, "four tasks to end", || async {
        let events = stored_events(&js).await?;
        let ended = ["guarded.1", "guarded.2", "open.1", "open.2"]
            .iter()
            .all(|p| failure_of(&events, p).is_some() || crawled(&events, p).is_some());
        Ok(ended.then_some(events))
    })
    .await?;

    let literal = failure_of(&events, "guarded.1").expect("guarded.1 fails");
    assert_eq!(literal.reason, "blocked_redirect", "{literal:?}");
    assert_eq!(literal.attempts, 1, "a blocked redirect is not retried");
    let named = failure_of(&events, "guarded.2").expect("guarded.2 fails");
    assert_eq!(named.reason, "blocked_address", "{named:?}");
    assert_eq!(named.attempts, 1, "a blocked address is not retried");
    assert_eq!(forbidden.count(), 0, "the private host was reached");
    assert_eq!(by_name.count(), 0, "`localhost` was reached");
    assert!(crawled(&events, "guarded.1").is_none());

    let followed = crawled(&events, "open.1").expect("the allowed redirect is followed");
    assert_eq!(followed.title, "ok");
    assert_eq!(allowed.hits(), ["/page"]);
    // A name resolving into an allowed network passes the resolver.
    let named = crawled(&events, "open.2").expect("the allowed name is followed");
    assert_eq!(named.title, "named");
    assert_eq!(allowed_by_name.hits(), ["/named"]);

    fetcher.stop().await?;
    Ok(())
}
