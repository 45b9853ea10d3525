//! The sample site does, over real HTTP, what its documentation promises for
//! each kind of page: the normal page, every failure mode, the legacy
//! charsets, conditional GET, compression, new entries over time, and the
//! binary's start and stop.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pagefeed_testkit::sample_site::{
    expected_entries, expected_title, page_kind, posting_period, Clock, ExpectedEntry, PageKind,
    SampleSite, SampleSiteOptions,
};
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;

/// A fixed "now" (2023-11-14T22:13:20Z), so that no entry appears mid-test.
const T0: i64 = 1_700_000_000;

struct Fixture {
    site: SampleSite,
    clock: Arc<AtomicI64>,
    opts: SampleSiteOptions,
}

async fn start_with(tune: impl FnOnce(&mut SampleSiteOptions)) -> Fixture {
    let clock = Arc::new(AtomicI64::new(T0));
    let mut opts = SampleSiteOptions {
        clock: Clock::Manual(clock.clone()),
        ..SampleSiteOptions::default()
    };
    tune(&mut opts);
    let site = SampleSite::start(([127, 0, 0, 1], 0).into(), opts.clone())
        .await
        .expect("start the sample site");
    Fixture { site, clock, opts }
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

/// Follows redirects and decompresses, like a crawler would.
/// reqwest's rustls needs a crypto provider once the fetcher's
/// `rustls-no-provider` feature is in the build (features unify).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Shows the wire: no redirects followed, no transparent decompression.
fn raw_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("raw client")
}

async fn get(url: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = client().get(url).send().await.expect("GET");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The page's entries in document order, each as the HTML between two
/// `class="feedEntry"` markers.
fn entry_chunks(html: &str) -> Vec<&str> {
    html.split("class=\"feedEntry\"").skip(1).collect()
}

/// What the crawler's selectors find with an HTML5 parser: the title, then
/// (comment, timestamp, href) of each entry in document order.
fn extract(html: &str) -> (String, Vec<(String, String, String)>) {
    let doc = scraper::Html::parse_document(html);
    let sel = |css: &str| scraper::Selector::parse(css).expect("selector");
    let text_of = |root: scraper::ElementRef<'_>, css: &str| {
        root.select(&sel(css))
            .next()
            .map(|e| e.text().collect::<String>())
            .unwrap_or_default()
    };
    let title = text_of(doc.root_element(), "title");
    let entries = doc
        .select(&sel("div.feedEntry"))
        .map(|entry| {
            let href = entry
                .select(&sel("li.viewLink a"))
                .next()
                .and_then(|a| a.value().attr("href"))
                .unwrap_or_default()
                .to_owned();
            (
                text_of(entry, "p.comment"),
                text_of(entry, "li.timeStamp"),
                href,
            )
        })
        .collect();
    (title, entries)
}

/// An HTML5 parser finds exactly the expected entries, in order, and the title.
fn assert_shows(html: &str, id: u64, expected: &[ExpectedEntry]) {
    assert_eq!(count(html, "class=\"feedEntry\""), expected.len());
    let (title, found) = extract(html);
    assert_eq!(title, expected_title(id));
    let wanted: Vec<_> = expected
        .iter()
        .map(|e| (e.text.clone(), e.timestamp.clone(), e.href.clone()))
        .collect();
    assert_eq!(found, wanted);
}

#[tokio::test]
async fn normal_page_shows_twenty_entries_in_about_fourteen_kib() {
    let f = start().await;
    let id = 42;
    assert_eq!(page_kind(id), PageKind::Normal);
    let (status, headers, body) = get(&f.site.page_url(id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_str(&headers, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert!(
        (13 * 1024..=16 * 1024).contains(&body.len()),
        "normal page is {} bytes",
        body.len()
    );
    let html = String::from_utf8(body).expect("UTF-8");
    assert_eq!(count(&html, "class=\"feedEntry\""), 20);
    assert!(html.contains(&format!("<title>{}</title>", expected_title(id))));
    let expected = expected_entries(id, T0, &f.opts);
    assert_eq!(expected.len(), 20);
    assert!(expected.windows(2).all(|w| w[0].posted_at > w[1].posted_at));
    assert_shows(&html, id, &expected);
    assert!(html.trim_end().ends_with("</body></html>"));
}

#[tokio::test]
async fn not_found_page_is_404() {
    let f = start().await;
    for id in [13, 113] {
        let (status, _, _) = get(&f.site.page_url(id)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "id {id}");
    }
}

#[tokio::test]
async fn server_error_page_is_500_every_time() {
    let f = start().await;
    for _ in 0..3 {
        let (status, _, _) = get(&f.site.page_url(14)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[tokio::test]
async fn too_many_requests_page_is_429_with_retry_after() {
    let f = start().await;
    for _ in 0..2 {
        let (status, headers, _) = get(&f.site.page_url(15)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header_str(&headers, header::RETRY_AFTER), "1");
    }
}

#[tokio::test]
async fn unavailable_page_is_503_with_retry_after() {
    let f = start().await;
    let (status, headers, _) = get(&f.site.page_url(116)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_str(&headers, header::RETRY_AFTER), "1");
}

#[tokio::test]
async fn slow_page_sends_its_first_bytes_at_once_and_the_rest_after_the_pause() {
    let pause = Duration::from_secs(2);
    let f = start_with(|o| o.slow_body = pause).await;
    let started = Instant::now();
    // Asks for gzip: the slow body must not be held back by a compressor.
    let mut resp = raw_client()
        .get(f.site.page_url(17))
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    let first = resp
        .chunk()
        .await
        .expect("first chunk")
        .expect("some bytes");
    let first_at = started.elapsed();
    assert!(first_at < pause / 2, "first bytes after {first_at:?}");
    assert!(first.starts_with(b"<!DOCTYPE html>"));
    let mut body = first.to_vec();
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        body.extend_from_slice(&chunk);
    }
    let total = started.elapsed();
    assert!(total >= pause, "whole body after {total:?}");
    let html = String::from_utf8(body).expect("UTF-8");
    assert_eq!(count(&html, "class=\"feedEntry\""), 20);
    assert!(html.trim_end().ends_with("</html>"));
}

#[tokio::test]
async fn oversized_page_streams_more_than_six_mib() {
    let f = start().await;
    let mut resp = raw_client()
        .get(f.site.page_url(18))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    let (mut total, mut chunks, mut last) = (0usize, 0usize, Vec::new());
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        total += chunk.len();
        chunks += 1;
        last = chunk.to_vec();
    }
    assert!(total >= 6 * 1024 * 1024, "only {total} bytes");
    assert!(chunks > 1, "sent in one piece");
    assert!(String::from_utf8_lossy(&last)
        .trim_end()
        .ends_with("</html>"));
}

/// The body is not UTF-8, decodes without error with `encoding`, and then
/// shows the title and every expected entry.
fn assert_legacy_japanese(
    body: &[u8],
    encoding: &'static encoding_rs::Encoding,
    id: u64,
    opts: &SampleSiteOptions,
) -> String {
    if encoding == encoding_rs::ISO_2022_JP {
        // 7-bit, so always valid UTF-8: what matters is that read as UTF-8
        // it shows escape sequences instead of Japanese.
        assert!(body.windows(3).any(|w| w == b"\x1b$B"), "no ESC $ B");
        assert!(!String::from_utf8_lossy(body).contains(&expected_title(id)));
    } else {
        assert!(
            std::str::from_utf8(body).is_err(),
            "{} page is valid UTF-8",
            encoding.name()
        );
    }
    let (html, malformed) = encoding.decode_without_bom_handling(body);
    assert!(!malformed, "malformed {}", encoding.name());
    assert!(html.contains(&expected_title(id)));
    assert_shows(&html, id, &expected_entries(id, T0, opts));
    html.into_owned()
}

#[tokio::test]
async fn shift_jis_page_declares_its_charset_only_in_the_header() {
    let f = start().await;
    let (status, headers, body) = get(&f.site.page_url(19)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_str(&headers, header::CONTENT_TYPE),
        "text/html; charset=Shift_JIS"
    );
    let html = assert_legacy_japanese(&body, encoding_rs::SHIFT_JIS, 19, &f.opts);
    assert!(!html.to_ascii_lowercase().contains("charset"));
}

#[tokio::test]
async fn euc_jp_page_declares_its_charset_only_in_meta_charset() {
    let f = start().await;
    let (status, headers, body) = get(&f.site.page_url(120)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_str(&headers, header::CONTENT_TYPE), "text/html");
    let html = assert_legacy_japanese(&body, encoding_rs::EUC_JP, 120, &f.opts);
    assert!(html.contains("<meta charset=\"EUC-JP\">"));
}

#[tokio::test]
async fn iso_2022_jp_page_declares_its_charset_only_in_meta_http_equiv() {
    let f = start().await;
    let (status, headers, body) = get(&f.site.page_url(21)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_str(&headers, header::CONTENT_TYPE), "text/html");
    assert!(body.is_ascii(), "ISO-2022-JP is a 7-bit encoding");
    let html = assert_legacy_japanese(&body, encoding_rs::ISO_2022_JP, 21, &f.opts);
    assert!(html
        .contains("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-2022-JP\">"));
}

#[tokio::test]
async fn bom_page_is_utf8_with_a_bom_and_no_charset_anywhere() {
    let f = start().await;
    let (status, headers, body) = get(&f.site.page_url(28)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_str(&headers, header::CONTENT_TYPE), "text/html");
    let html = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("starts with a UTF-8 BOM");
    let html = std::str::from_utf8(html).expect("UTF-8 after the BOM");
    assert!(!html.to_ascii_lowercase().contains("charset"));
    assert_shows(html, 28, &expected_entries(28, T0, &f.opts));
}

#[tokio::test]
async fn broken_markup_page_lacks_closing_tags_but_keeps_its_entries() {
    let f = start().await;
    let (status, _, body) = get(&f.site.page_url(22)).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(!html.contains("</html>") && !html.contains("</body>"));
    let feed_start = html.find("class=\"feedEntry\"").expect("entries");
    let feed_end = html.find("id=\"sideArea\"").expect("side area");
    let feed = &html[feed_start..feed_end];
    assert!(
        !feed.contains("</p>") && !feed.contains("</li>"),
        "entries close their <p> or <li>"
    );
    let stray = html.find("</div>").expect("a </div>");
    assert!(
        stray < html.find("<div").expect("a <div"),
        "the first </div> is stray"
    );
    assert_shows(&html, 22, &expected_entries(22, T0, &f.opts));
}

#[tokio::test]
async fn javascript_shell_page_has_no_entries() {
    let f = start().await;
    let (status, _, body) = get(&f.site.page_url(23)).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(!html.contains("feedEntry"));
    assert!(html.contains("<div id=\"app\"></div>") && html.contains("<script src="));
}

#[tokio::test]
async fn flaky_page_fails_twice_then_works() {
    let f = start().await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&f.site.page_url(24)).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::OK,
            StatusCode::OK
        ]
    );
    // Per id: another flaky id starts failing afresh.
    assert_eq!(
        get(&f.site.page_url(124)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn rate_limited_once_page_is_429_then_200() {
    let f = start().await;
    let (status, headers, _) = get(&f.site.page_url(125)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_str(&headers, header::RETRY_AFTER), "1");
    let (status, _, body) = get(&f.site.page_url(125)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count(&String::from_utf8_lossy(&body), "class=\"feedEntry\""),
        20
    );
}

#[tokio::test]
async fn redirect_loop_page_redirects_to_itself_with_a_growing_hop() {
    let f = start().await;
    let raw = raw_client();
    let mut url = f.site.page_url(26);
    for hop in 1..=5 {
        let resp = raw.get(&url).send().await.expect("GET");
        assert_eq!(resp.status(), StatusCode::FOUND);
        let location = header_str(resp.headers(), header::LOCATION).to_owned();
        assert_eq!(location, format!("/recent_page_feed?page_id=26&hop={hop}"));
        url = format!("{}{location}", f.site.base_url());
    }
    let err = client()
        .get(f.site.page_url(26))
        .send()
        .await
        .expect_err("a loop");
    assert!(err.is_redirect(), "{err}");
}

#[tokio::test]
async fn redirect_page_moves_to_a_normal_page() {
    let f = start().await;
    let resp = raw_client()
        .get(f.site.page_url(27))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        header_str(resp.headers(), header::LOCATION),
        "/recent_page_feed?page_id=1"
    );
    let resp = client().get(f.site.page_url(27)).send().await.expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.url().as_str(), f.site.page_url(1));
    let html = resp.text().await.expect("body");
    assert!(html.contains(&expected_title(1)));
    assert_eq!(f.site.requests(27), 2);
    assert_eq!(f.site.requests(1), 1);
}

#[tokio::test]
async fn conditional_get_is_answered_304_and_counted() {
    let f = start().await;
    let id = 42;
    let url = f.site.page_url(id);
    let (_, headers, _) = get(&url).await;
    let etag = header_str(&headers, header::ETAG).to_owned();
    let last_modified = header_str(&headers, header::LAST_MODIFIED).to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");

    let raw = raw_client();
    let resp = raw
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header_str(resp.headers(), header::ETAG), etag);
    assert!(resp.bytes().await.expect("body").is_empty());
    assert_eq!(f.site.not_modified(id), 1);

    let resp = raw
        .get(&url)
        .header(header::IF_MODIFIED_SINCE, &last_modified)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(f.site.not_modified(id), 2);

    let resp = raw
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);

    // A new entry changes the page: the old validators no longer match.
    f.clock.fetch_add(
        posting_period(id, &f.opts).as_secs() as i64,
        Ordering::SeqCst,
    );
    let resp = raw
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(header_str(resp.headers(), header::ETAG), etag);
    let resp = raw
        .get(&url)
        .header(header::IF_MODIFIED_SINCE, &last_modified)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(f.site.not_modified(id), 2);
    assert_eq!(f.site.requests(id), 6);

    // The legacy-charset pages are cacheable too.
    let (_, headers, _) = get(&f.site.page_url(19)).await;
    let etag = header_str(&headers, header::ETAG).to_owned();
    let resp = raw
        .get(f.site.page_url(19))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(f.site.not_modified(19), 1);
}

#[tokio::test]
async fn advancing_the_clock_puts_new_entries_on_top() {
    let f = start().await;
    let id = 7;
    let before = expected_entries(id, T0, &f.opts);
    let (_, _, body) = get(&f.site.page_url(id)).await;
    assert_shows(&String::from_utf8(body).expect("UTF-8"), id, &before);

    let period = posting_period(id, &f.opts).as_secs() as i64;
    f.clock.fetch_add(3 * period, Ordering::SeqCst);
    let after = expected_entries(id, T0 + 3 * period, &f.opts);
    assert_eq!(after.len(), 20);
    assert!(after[..3]
        .iter()
        .all(|e| e.index > before[0].index && e.posted_at > T0));
    assert_eq!(
        after[3..],
        before[..17],
        "older entries shift down by three"
    );

    let (_, _, body) = get(&f.site.page_url(id)).await;
    let html = String::from_utf8(body).expect("UTF-8");
    assert_shows(&html, id, &after);
    let chunks = entry_chunks(&html);
    assert!(chunks[3].contains(&before[0].text));
    assert!(
        !html.contains(&format!("entry={}\"", before[19].index)),
        "the oldest fell off"
    );
}

#[tokio::test]
async fn pages_are_compressed_when_the_client_asks() {
    let f = start().await;
    let url = f.site.page_url(42);
    let raw = raw_client();
    for (asked, got) in [("gzip", "gzip"), ("br", "br"), ("deflate", "deflate")] {
        let resp = raw
            .get(&url)
            .header(header::ACCEPT_ENCODING, asked)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header_str(resp.headers(), header::CONTENT_ENCODING), got);
        let body = resp.bytes().await.expect("body");
        assert!(body.len() < 7 * 1024, "{got} body is {} bytes", body.len());
        if got == "gzip" {
            assert!(body.starts_with(&[0x1f, 0x8b]), "gzip magic");
        }
    }
    let resp = raw.get(&url).send().await.expect("GET");
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    // A client that decompresses gets the same page.
    let (_, _, body) = get(&url).await;
    assert_shows(
        &String::from_utf8(body).expect("UTF-8"),
        42,
        &expected_entries(42, T0, &f.opts),
    );
}

#[tokio::test]
async fn requests_are_counted_per_id_and_shown_in_stats() {
    let f = start().await;
    for id in [41, 41, 13, 24] {
        get(&f.site.page_url(id)).await;
    }
    assert_eq!(f.site.requests(41), 2);
    assert_eq!(f.site.requests(13), 1);
    assert_eq!(f.site.requests(24), 1);
    assert_eq!(f.site.requests(999), 0);
    let (status, headers, body) = get(&format!("{}/stats", f.site.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_str(&headers, header::CONTENT_TYPE),
        "application/json"
    );
    let stats: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(stats["requests"]["41"], 2);
    assert_eq!(stats["requests"]["13"], 1);
    assert!(stats["not_modified"]
        .as_object()
        .expect("object")
        .is_empty());
}

#[tokio::test]
async fn bad_page_id_is_400() {
    let f = start().await;
    let base = f.site.base_url();
    for query in ["", "?page_id=", "?page_id=abc", "?page_id=-1", "?id=42"] {
        let (status, _, _) = get(&format!("{base}/recent_page_feed{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "query {query:?}");
    }
    let (status, _, _) = get(&format!("{base}/view_entry?page_id=1&entry=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn entry_links_lead_to_the_entry() {
    let f = start().await;
    let entry = &expected_entries(42, T0, &f.opts)[0];
    let (status, _, body) = get(&format!("{}{}", f.site.base_url(), entry.href)).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(html.contains(&entry.text) && html.contains(&entry.timestamp));
}

#[tokio::test]
async fn index_page_explains_the_ids() {
    let f = start().await;
    let (status, _, body) = get(&format!("{}/", f.site.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).expect("UTF-8");
    for kind in [
        PageKind::SlowBody,
        PageKind::RedirectLoop,
        PageKind::Utf8Bom,
    ] {
        assert!(html.contains(&format!("{kind:?}")), "{kind:?}");
        assert_eq!(page_kind(kind.first_id()), kind);
    }
    assert_eq!(
        f.site.url_template().replace("{id}", "5"),
        f.site.page_url(5)
    );
}

#[tokio::test]
async fn latency_delays_each_page() {
    let latency = Duration::from_millis(300);
    let f = start_with(|o| o.latency = latency).await;
    let started = Instant::now();
    let (status, _, _) = get(&f.site.page_url(42)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_slow_body() {
    let f = start_with(|o| o.slow_body = Duration::from_secs(120)).await;
    let mut resp = raw_client()
        .get(f.site.page_url(17))
        .send()
        .await
        .expect("GET");
    resp.chunk()
        .await
        .expect("first chunk")
        .expect("some bytes");
    let reader = tokio::spawn(async move {
        let mut outcome = Ok(());
        loop {
            match resp.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        outcome
    });
    let addr = f.site.addr();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), f.site.shutdown())
        .await
        .expect("shutdown within 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the body ends")
        .expect("reader task");
    assert!(outcome.is_err(), "the cut body is reported as an error");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn binary_serves_until_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_pagefeed-sample-site"))
        .args(["--listen", "127.0.0.1:0", "--entry-period-secs", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the binary");
    let mut child = ChildGuard(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the listening line");
    let base = line
        .trim()
        .strip_prefix("sample site listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let (status, _, body) = get(&format!("{base}/recent_page_feed?page_id=42")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count(&String::from_utf8_lossy(&body), "class=\"feedEntry\""),
        20
    );

    let pid = child.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn every_slow_page_id_serves_its_whole_body() {
    // The body is split in the middle of Japanese text: at a char boundary.
    let f = start_with(|o| o.slow_body = Duration::from_millis(50)).await;
    for id in [17, 117, 217, 317, 417, 517, 617, 717] {
        let (status, _, body) = get(&f.site.page_url(id)).await;
        assert_eq!(status, StatusCode::OK, "id {id}");
        let html = String::from_utf8(body).expect("UTF-8");
        assert!(html.trim_end().ends_with("</html>"), "id {id}");
    }
}
