//! A normal page of the sample site shows its 20 newest entries as the
//! crawler's selectors read them, new entries come on top as the clock
//! advances, and an entry's link leads to the entry.

mod common;

use std::sync::atomic::Ordering;

use pagefeed_testkit::sample_site::{
    expected_entries, expected_title, page_kind, posting_period, PageKind,
};
use reqwest::header;
use reqwest::StatusCode;

use common::{assert_shows, count, entry_chunks, get, header_str, start, T0};

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
async fn entry_links_lead_to_the_entry() {
    let f = start().await;
    let entry = &expected_entries(42, T0, &f.opts)[0];
    let (status, _, body) = get(&format!("{}{}", f.site.base_url(), entry.href)).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(html.contains(&entry.text) && html.contains(&entry.timestamp));
}
