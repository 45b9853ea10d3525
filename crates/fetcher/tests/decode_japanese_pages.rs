//! Pages in Shift_JIS (charset in the header only), EUC-JP (`<meta charset>`),
//! ISO-2022-JP (`<meta http-equiv>`), UTF-8 with a BOM and no charset, and
//! broken markup, fetched over HTTP, decode to the same Japanese title and
//! entries a UTF-8 page would give, with the entry ids they have always had.

use chrono::DateTime;
use pagefeed_events::event::content_id;
use pagefeed_fetcher::decode::decode;
use pagefeed_fetcher::extract::{Extractor, Limits};
use pagefeed_fetcher::http::{FetchSettings, HttpClient, Outcome, Validators};
use pagefeed_fetcher::policy::AddressPolicy;
use pagefeed_testkit::config::sample_extract;
use pagefeed_testkit::sample_site::{
    self, expected_entries, expected_title, PageKind, SampleSite, SampleSiteOptions,
};

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;

#[tokio::test]
async fn legacy_charsets_bom_and_broken_markup_decode_to_the_expected_text() {
    let opts = SampleSiteOptions::at(T0);
    let site = SampleSite::start("127.0.0.1:0".parse().unwrap(), opts.clone())
        .await
        .unwrap();
    let client = HttpClient::new(
        FetchSettings::default(),
        AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
    )
    .unwrap();
    let extractor =
        Extractor::new(&sample_extract(), sample_site::TIMEZONE, Limits::default()).unwrap();
    let now = DateTime::from_timestamp(T0, 0).unwrap();

    for (kind, encoding) in [
        (PageKind::ShiftJis, "Shift_JIS"),
        (PageKind::EucJp, "EUC-JP"),
        (PageKind::Iso2022Jp, "ISO-2022-JP"),
        (PageKind::BrokenMarkup, "UTF-8"),
        (PageKind::Utf8Bom, "UTF-8"),
    ] {
        // The second page of each kind too, so no id is special.
        for id in [kind.first_id(), kind.first_id() + 100] {
            let url = site.page_url(id);
            let Outcome::Fetched(page) = client.fetch(&url, &Validators::default()).await.unwrap()
            else {
                panic!("{kind:?}: unexpected 304");
            };
            let decoded = decode(&page.body, page.content_type.as_deref());
            assert_eq!(decoded.encoding, encoding, "{kind:?}");
            assert!(!decoded.had_errors, "{kind:?}");
            assert!(!decoded.text.starts_with('\u{FEFF}'), "{kind:?}: BOM kept");
            let extracted = extractor.extract(&decoded.text, &page.url, now).unwrap();
            assert_eq!(extracted.title, expected_title(id), "{kind:?}");
            let expected = expected_entries(id, T0, &opts);
            let texts: Vec<&str> = extracted.entries.iter().map(|e| e.text.as_str()).collect();
            let want: Vec<&str> = expected.iter().map(|e| e.text.as_str()).collect();
            assert_eq!(texts, want, "{kind:?}");
            // Ids are what they have always been: the hash of scraper's
            // serialisation of each match of the entry selector.
            let document = scraper::Html::parse_document(&decoded.text);
            let entry = scraper::Selector::parse("div.feedEntry").unwrap();
            let before: Vec<String> = document
                .select(&entry)
                .map(|e| content_id(e.html().as_bytes()))
                .collect();
            let ids: Vec<&str> = extracted.entries.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, before, "{kind:?}");
            for (got, want) in extracted.entries.iter().zip(&expected) {
                let minute = want.posted_at - want.posted_at.rem_euclid(60);
                assert_eq!(
                    got.timestamp,
                    DateTime::from_timestamp(minute, 0),
                    "{kind:?}"
                );
                assert_eq!(
                    got.link.as_deref(),
                    Some(format!("{}{}", site.base_url(), want.href).as_str()),
                    "{kind:?}"
                );
            }
        }
    }
    site.shutdown().await;
}
