//! The sample site's broken-markup page still holds every entry for an
//! HTML5 parser, and its JavaScript-rendered shell holds none.

mod common;

use pagefeed_testkit::sample_site::expected_entries;
use reqwest::StatusCode;

use common::{assert_shows, get, start, T0};

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
