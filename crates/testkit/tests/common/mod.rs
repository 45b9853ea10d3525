//! What the sample site's tests share: a site on a manual clock, HTTP
//! clients, and what the crawler's selectors find on a page.
#![allow(dead_code)] // each scenario uses its own part

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use pagefeed_testkit::sample_site::{
    expected_title, Clock, ExpectedEntry, SampleSite, SampleSiteOptions,
};
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;

/// A fixed "now" (2023-11-14T22:13:20Z), so that no entry appears mid-test.
pub const T0: i64 = 1_700_000_000;

/// A running sample site, its clock (set to [`T0`]; a test advances it by
/// hand) and its options.
pub struct Fixture {
    pub site: SampleSite,
    pub clock: Arc<AtomicI64>,
    pub opts: SampleSiteOptions,
}

/// Starts a site on 127.0.0.1 with its options changed by `tune`.
pub async fn start_with(tune: impl FnOnce(&mut SampleSiteOptions)) -> Fixture {
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

pub async fn start() -> Fixture {
    start_with(|_| {}).await
}

/// reqwest's rustls needs a crypto provider once the fetcher's
/// `rustls-no-provider` feature is in the build (features unify).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Follows redirects and decompresses, like a crawler would.
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Shows the wire: no redirects followed, no transparent decompression.
pub fn raw_client() -> reqwest::Client {
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

pub async fn get(url: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = client().get(url).send().await.expect("GET");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The page's entries in document order, each as the HTML between two
/// `class="feedEntry"` markers.
pub fn entry_chunks(html: &str) -> Vec<&str> {
    html.split("class=\"feedEntry\"").skip(1).collect()
}

/// What the crawler's selectors find with an HTML5 parser: the title, then
/// (comment, timestamp, href) of each entry in document order.
pub fn extract(html: &str) -> (String, Vec<(String, String, String)>) {
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
pub fn assert_shows(html: &str, id: u64, expected: &[ExpectedEntry]) {
    assert_eq!(count(html, "class=\"feedEntry\""), expected.len());
    let (title, found) = extract(html);
    assert_eq!(title, expected_title(id));
    let wanted: Vec<_> = expected
        .iter()
        .map(|e| (e.text.clone(), e.timestamp.clone(), e.href.clone()))
        .collect();
    assert_eq!(found, wanted);
}
