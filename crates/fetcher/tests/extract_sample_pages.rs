//! A normal sample page fetched over HTTP yields its title and its 20 entries
//! exactly as the site says it shows them: text, absolute link, timestamp
//! (Japan time, with the year a reader would infer, across New Year too),
//! and stable ids.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use pagefeed_fetcher::decode::decode;
use pagefeed_fetcher::extract::{Extractor, Limits, Page};
use pagefeed_fetcher::http::{FetchSettings, HttpClient, Outcome, Validators};
use pagefeed_fetcher::policy::AddressPolicy;
use pagefeed_testkit::config::sample_extract;
use pagefeed_testkit::sample_site::{
    self, expected_entries, expected_title, page_kind, PageKind, SampleSite, SampleSiteOptions,
};

/// 2023-11-14T22:13:20Z.
const MID_NOVEMBER: i64 = 1_700_000_000;
/// 2024-01-01T00:30:00+09:00, half past midnight in the site's Japan time
/// (still 2023 in UTC): the page still shows entries of 31 December.
const NEW_YEAR: i64 = 1_704_036_600;

async fn fetch_and_extract(site: &SampleSite, id: u64, now: DateTime<Utc>) -> Page {
    let client = HttpClient::new(
        FetchSettings::default(),
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let url = site.page_url(id);
    let Outcome::Fetched(page) = client.fetch(&url, &Validators::default()).await.unwrap() else {
        panic!("no validators were sent, yet the answer was 304");
    };
    assert_eq!((page.status, page.url.as_str()), (200, url.as_str()));
    let decoded = decode(&page.body, page.content_type.as_deref());
    assert_eq!((decoded.encoding, decoded.had_errors), ("UTF-8", false));
    Extractor::new(&sample_extract(), sample_site::TIMEZONE, Limits::default())
        .unwrap()
        .extract(&decoded.text, &page.url, now)
        .unwrap()
}

async fn check_page_at(now_unix: i64) {
    let opts = SampleSiteOptions::at(now_unix);
    let site = SampleSite::start("127.0.0.1:0".parse().unwrap(), opts.clone())
        .await
        .unwrap();
    let now = DateTime::from_timestamp(now_unix, 0).unwrap();
    let id = 42;
    assert_eq!(page_kind(id), PageKind::Normal);

    let page = fetch_and_extract(&site, id, now).await;
    assert_eq!(page.title, expected_title(id));
    let expected = expected_entries(id, now_unix, &opts);
    assert_eq!(page.entries.len(), 20);
    assert_eq!(expected.len(), 20);
    for (got, want) in page.entries.iter().zip(&expected) {
        assert_eq!(got.text, want.text);
        assert_eq!(
            got.link.as_deref(),
            Some(format!("{}{}", site.base_url(), want.href).as_str())
        );
        let minute = want.posted_at - want.posted_at.rem_euclid(60);
        assert_eq!(
            got.timestamp,
            DateTime::from_timestamp(minute, 0),
            "entry {} shown as {}",
            want.index,
            want.timestamp
        );
        assert_eq!(got.id.len(), 32);
        assert!(got.id.bytes().all(|b| b.is_ascii_hexdigit()), "{}", got.id);
    }
    let ids: HashSet<&str> = page.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 20, "ids are unique");

    // The same page fetched and extracted again gives the same ids.
    let again = fetch_and_extract(&site, id, now).await;
    assert_eq!(again, page);
    site.shutdown().await;
}

#[tokio::test]
async fn a_normal_page_gives_its_title_and_twenty_entries() {
    check_page_at(MID_NOVEMBER).await;
}

#[tokio::test]
async fn entries_of_last_year_keep_their_year_after_new_year() {
    let opts = SampleSiteOptions::default();
    let shown = expected_entries(42, NEW_YEAR, &opts);
    let last_year = shown
        .iter()
        .filter(|e| e.posted_at < NEW_YEAR - 1800)
        .count();
    assert!(
        (1..20).contains(&last_year),
        "the page should span New Year"
    );
    check_page_at(NEW_YEAR).await;
}
