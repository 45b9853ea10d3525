//! The sample site answers a conditional GET (`If-None-Match`,
//! `If-Modified-Since`) with 304 until a new entry changes the page, and
//! counts the 304s.

mod common;

use std::sync::atomic::Ordering;

use pagefeed_testkit::sample_site::posting_period;
use reqwest::header;
use reqwest::StatusCode;

use common::{get, header_str, raw_client, start};

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
    let resp = get_if(&raw, &url, header::IF_NONE_MATCH, &etag).await;
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header_str(resp.headers(), header::ETAG), etag);
    assert!(resp.bytes().await.expect("body").is_empty());
    assert_eq!(f.site.not_modified(id), 1);

    let resp = get_if(&raw, &url, header::IF_MODIFIED_SINCE, &last_modified).await;
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(f.site.not_modified(id), 2);

    let resp = get_if(&raw, &url, header::IF_NONE_MATCH, "\"other\"").await;
    assert_eq!(resp.status(), StatusCode::OK);

    // A new entry changes the page: the old validators no longer match.
    f.clock.fetch_add(
        posting_period(id, &f.opts).as_secs() as i64,
        Ordering::SeqCst,
    );
    let resp = get_if(&raw, &url, header::IF_NONE_MATCH, &etag).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(header_str(resp.headers(), header::ETAG), etag);
    let resp = get_if(&raw, &url, header::IF_MODIFIED_SINCE, &last_modified).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(f.site.not_modified(id), 2);
    assert_eq!(f.site.requests(id), 6);

    // The legacy-charset pages are cacheable too.
    let (_, headers, _) = get(&f.site.page_url(19)).await;
    let etag = header_str(&headers, header::ETAG).to_owned();
    let resp = get_if(&raw, &f.site.page_url(19), header::IF_NONE_MATCH, &etag).await;
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(f.site.not_modified(19), 1);
}

/// GETs `url` with one conditional header, as it is on the wire.
async fn get_if(
    raw: &reqwest::Client,
    url: &str,
    name: header::HeaderName,
    value: &str,
) -> reqwest::Response {
    raw.get(url).header(name, value).send().await.expect("GET")
}
