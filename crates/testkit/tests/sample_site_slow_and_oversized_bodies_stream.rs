//! The sample site's slow and oversized pages stream their bodies as they
//! promise (first bytes at once, the rest after a pause; more than 6 MiB in
//! chunks), uncompressed, and `latency` delays every page.

mod common;

use std::time::{Duration, Instant};

use reqwest::header;
use reqwest::StatusCode;

use common::{count, get, raw_client, start, start_with};

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

#[tokio::test]
async fn latency_delays_each_page() {
    let latency = Duration::from_millis(300);
    let f = start_with(|o| o.latency = latency).await;
    let started = Instant::now();
    let (status, _, _) = get(&f.site.page_url(42)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
}
