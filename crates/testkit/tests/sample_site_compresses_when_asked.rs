//! The sample site's pages are compressed (gzip, br, deflate) when the
//! client asks, and only then.

mod common;

use pagefeed_testkit::sample_site::expected_entries;
use reqwest::header;
use reqwest::StatusCode;

use common::{assert_shows, get, header_str, raw_client, start, T0};

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
