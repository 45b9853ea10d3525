//! The sample site's Shift_JIS, EUC-JP, ISO-2022-JP and UTF-8-with-BOM
//! pages declare their charset in one place each (or nowhere) and decode
//! to the page a UTF-8 one shows.

mod common;

use pagefeed_testkit::sample_site::{expected_entries, expected_title, SampleSiteOptions};
use reqwest::header;
use reqwest::StatusCode;

use common::{assert_shows, get, header_str, start, T0};

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
