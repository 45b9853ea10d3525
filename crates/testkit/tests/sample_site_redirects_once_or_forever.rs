//! The sample site's redirecting pages: one 301 to a normal page, and a 302
//! loop that a client following redirects gives up on.

mod common;

use pagefeed_testkit::sample_site::expected_title;
use reqwest::header;
use reqwest::StatusCode;

use common::{client, header_str, raw_client, start};

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
