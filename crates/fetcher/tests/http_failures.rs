//! Every way the sample site (and the network) fails ends as a fetch error
//! with the right reason code, status and Retry-After; redirects are
//! followed within the cap; a conditional GET is answered 304.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use pagefeed_fetcher::decode::decode;
use pagefeed_fetcher::extract::{ExtractError, Extractor, Limits};
use pagefeed_fetcher::http::{FetchError, FetchSettings, HttpClient, Outcome, Validators};
use pagefeed_fetcher::policy::AddressPolicy;
use pagefeed_testkit::config::sample_extract;
use pagefeed_testkit::sample_site::{
    self, expected_title, Clock, PageKind, SampleSite, SampleSiteOptions,
};

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;

async fn start() -> SampleSite {
    let opts = SampleSiteOptions {
        clock: Clock::Manual(Arc::new(AtomicI64::new(T0))),
        // Far longer than the client's timeout in `slow_body_times_out`.
        slow_body: Duration::from_secs(60),
        ..SampleSiteOptions::default()
    };
    SampleSite::start("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap()
}

fn client() -> HttpClient {
    HttpClient::new(
        FetchSettings::default(),
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap()
}

async fn fetch_err(client: &HttpClient, url: &str) -> FetchError {
    match client.fetch(url, &Validators::default()).await {
        Ok(outcome) => panic!("{url}: expected an error, got {outcome:?}"),
        Err(e) => e,
    }
}

async fn fetch_ok(client: &HttpClient, url: &str) -> pagefeed_fetcher::http::Fetched {
    match client.fetch(url, &Validators::default()).await {
        Ok(Outcome::Fetched(page)) => page,
        other => panic!("{url}: expected a page, got {other:?}"),
    }
}

#[tokio::test]
async fn error_statuses_carry_status_and_retry_after() {
    let site = start().await;
    let client = client();
    // A 404 will not change; the others may.
    for (kind, status, retry_after, transient) in [
        (PageKind::NotFound, 404, None, false),
        (PageKind::ServerError, 500, None, true),
        (
            PageKind::TooManyRequests,
            429,
            Some(Duration::from_secs(1)),
            true,
        ),
        (
            PageKind::Unavailable,
            503,
            Some(Duration::from_secs(1)),
            true,
        ),
    ] {
        let e = fetch_err(&client, &site.page_url(kind.first_id())).await;
        assert_eq!(e.reason(), "http_status", "{kind:?}: {e}");
        assert_eq!(e.status(), Some(status), "{kind:?}");
        assert_eq!(e.retry_after(), retry_after, "{kind:?}");
        assert_eq!(e.is_transient(), transient, "{kind:?}");
        assert!(
            e.detail().starts_with(&status.to_string()),
            "{}",
            e.detail()
        );
    }
    site.shutdown().await;
}

#[tokio::test]
async fn rate_limited_once_then_served() {
    let site = start().await;
    let client = client();
    let url = site.page_url(PageKind::RateLimitedOnce.first_id());
    let e = fetch_err(&client, &url).await;
    assert_eq!(
        (e.status(), e.retry_after()),
        (Some(429), Some(Duration::from_secs(1)))
    );
    assert!(e.is_transient());
    assert_eq!(fetch_ok(&client, &url).await.status, 200);
    site.shutdown().await;
}

#[tokio::test]
async fn slow_body_times_out() {
    let site = start().await;
    let client = HttpClient::new(
        FetchSettings {
            timeout: Duration::from_millis(500),
            ..FetchSettings::default()
        },
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let e = fetch_err(&client, &site.page_url(PageKind::SlowBody.first_id())).await;
    assert_eq!(e.reason(), "timeout", "{e}");
    site.shutdown().await;
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let site = start().await;
    let e = fetch_err(&client(), &site.page_url(PageKind::Oversized.first_id())).await;
    assert_eq!(e.reason(), "too_large", "{e}");
    assert!(!e.is_transient());
    // A small cap refuses the normal page too, and a cap that fits accepts it.
    let small = HttpClient::new(
        FetchSettings {
            max_body: 4096,
            ..FetchSettings::default()
        },
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let e = fetch_err(&small, &site.page_url(42)).await;
    assert_eq!(e.reason(), "too_large", "{e}");
    let fits = HttpClient::new(
        FetchSettings {
            max_body: 64 * 1024,
            ..FetchSettings::default()
        },
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    assert!(fetch_ok(&fits, &site.page_url(42)).await.body.len() > 4096);
    site.shutdown().await;
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_cap() {
    let site = start().await;
    let id = PageKind::RedirectLoop.first_id();
    let e = fetch_err(&client(), &site.page_url(id)).await;
    assert_eq!(e.reason(), "too_many_redirects", "{e}");
    // The first request and max_redirects (5) more were made, no others.
    assert_eq!(site.requests(id), 6);
    site.shutdown().await;
}

#[tokio::test]
async fn one_redirect_is_followed_to_the_page() {
    let site = start().await;
    let id = PageKind::Redirect.first_id();
    let page = fetch_ok(&client(), &site.page_url(id)).await;
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, site.page_url(1).as_str())
    );
    let decoded = decode(&page.body, page.content_type.as_deref());
    let extracted = extractor()
        .extract(
            &decoded.text,
            &page.url,
            DateTime::from_timestamp(T0, 0).unwrap(),
        )
        .unwrap();
    assert_eq!(extracted.title, expected_title(1));
    site.shutdown().await;
}

fn extractor() -> Extractor {
    Extractor::new(&sample_extract(), sample_site::TIMEZONE, Limits::default()).unwrap()
}

#[tokio::test]
async fn a_javascript_shell_has_no_entries() {
    let site = start().await;
    let page = fetch_ok(&client(), &site.page_url(PageKind::NoEntries.first_id())).await;
    let decoded = decode(&page.body, page.content_type.as_deref());
    let e = extractor()
        .extract(
            &decoded.text,
            &page.url,
            DateTime::from_timestamp(T0, 0).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(&e, ExtractError::NoEntries { selector } if selector == "div.feedEntry"));
    assert_eq!(e.reason(), "no_entries");
    assert!(e.detail().contains("JavaScript"), "{e}");
    site.shutdown().await;
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let e = fetch_err(&client(), &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(e.reason(), "connect", "{}", e.detail());
    assert!(e.is_transient());
}

/// A site's `connect_timeout` replaces the fetcher's: a host that never
/// completes the TCP handshake (a listener whose backlog is full, so the
/// kernel drops further SYNs) fails the site's fetch as a timeout long
/// before the fetcher's own 60 s connect and total timeouts.
#[tokio::test]
async fn a_site_connect_timeout_ends_a_connect_that_hangs() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let address = listener.local_addr().unwrap();
    // Never accepted: these fill the accept queue.
    let mut held = Vec::new();
    for _ in 0..4 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(300), socket.connect(address)).await
        {
            held.push(stream);
        }
    }

    let url = format!("http://{address}/{{id}}");
    let cfg = pagefeed_testkit::config::config(
        "nats://127.0.0.1:4222",
        1,
        &[
            pagefeed_testkit::config::id_site("slow", &url, 1, 1, 1, "1m").replacen(
                "[[site]]\n",
                "[[site]]\nconnect_timeout = \"300ms\"\n",
                1,
            ),
        ],
    );
    let fetcher = pagefeed_events::config::FetcherConfig {
        connect_timeout: Duration::from_secs(60),
        timeout: Duration::from_secs(60),
        ..cfg.fetcher.clone()
    };
    let settings = FetchSettings::for_site(&fetcher, &cfg.sites[0]);
    assert_eq!(settings.connect_timeout, Duration::from_millis(300));
    let client = HttpClient::new(
        settings,
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let page = url.replace("{id}", "1");
    let e = tokio::time::timeout(Duration::from_secs(20), fetch_err(&client, &page))
        .await
        .expect("the site's connect timeout ends the fetch, not the fetcher's 60 s");
    assert_eq!(e.reason(), "timeout", "{}", e.detail());
    drop(held);
}

#[tokio::test]
async fn other_schemes_are_refused_without_a_request() {
    let site = start().await;
    let client = client();
    let ftp = site.page_url(42).replacen("http://", "ftp://", 1);
    for url in [
        "ftp://x",
        ftp.as_str(),
        "not a url",
        "/recent_page_feed?page_id=42",
    ] {
        let e = fetch_err(&client, url).await;
        assert_eq!(e.reason(), "bad_url", "{url}: {e}");
    }
    assert_eq!(site.requests(42), 0);
    site.shutdown().await;
}

#[tokio::test]
async fn a_conditional_get_is_answered_not_modified() {
    let site = start().await;
    let client = client();
    let url = site.page_url(42);
    let first = fetch_ok(&client, &url).await;
    let validators = first.validators.clone();
    assert!(validators.etag.is_some(), "{validators:?}");
    assert!(validators.last_modified.is_some(), "{validators:?}");

    match client.fetch(&url, &validators).await.unwrap() {
        Outcome::NotModified {
            status,
            validators: kept,
        } => {
            assert_eq!(status, 304);
            assert_eq!(kept, validators);
        }
        other => panic!("expected 304, got {other:?}"),
    }
    assert_eq!(site.not_modified(42), 1);

    // Last-Modified alone is enough too.
    let only_date = Validators {
        etag: None,
        last_modified: validators.last_modified.clone(),
    };
    assert!(matches!(
        client.fetch(&url, &only_date).await.unwrap(),
        Outcome::NotModified { status: 304, .. }
    ));
    assert_eq!(site.not_modified(42), 2);

    // Validators survive a round trip through JSON (they are kept in a KV bucket).
    let json = serde_json::to_string(&validators).unwrap();
    assert_eq!(
        serde_json::from_str::<Validators>(&json).unwrap(),
        validators
    );
    site.shutdown().await;
}
