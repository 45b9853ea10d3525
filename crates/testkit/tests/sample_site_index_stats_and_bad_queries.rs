//! The sample site's other routes: the index explains the ids, `/stats`
//! shows the request counters as JSON, and a bad query is a 400.

mod common;

use pagefeed_testkit::sample_site::{page_kind, PageKind};
use reqwest::header;
use reqwest::StatusCode;

use common::{get, header_str, start};

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
