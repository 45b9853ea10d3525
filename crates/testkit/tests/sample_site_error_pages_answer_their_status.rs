//! The sample site's failing pages answer the status their kind promises:
//! always (404, 500, 429 and 503 with `Retry-After`) or only at first (the
//! flaky and the rate-limited-once pages).

mod common;

use reqwest::header;
use reqwest::StatusCode;

use common::{count, get, header_str, start};

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
