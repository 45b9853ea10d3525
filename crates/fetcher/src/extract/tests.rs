//! Extraction as a site's selectors see it: title, text, timestamp and
//! link; ids; nesting; the limits and the deadline of a page.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use pagefeed_events::config::Extract;
use pagefeed_events::event::content_id;
use pagefeed_events::limits::MAX_URL_BYTES;
use scraper::{Html, Selector};

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn extract(
    e: &Extractor,
    html: &str,
    page_url: &str,
    now: DateTime<Utc>,
) -> Result<Page, ExtractError> {
    e.extract(html, page_url, now)
}

/// Entries whose text is all of their text, without timestamp or link.
fn whole_entries(entry: &str) -> Extract {
    Extract {
        title: "title".into(),
        entry: entry.into(),
        text: None,
        timestamp: None,
        timestamp_format: None,
        link: None,
    }
}

fn extractor() -> Extractor {
    extractor_in(Tz::UTC)
}

/// [`extractor`] for a site whose times are local to `zone`.
fn extractor_in(zone: Tz) -> Extractor {
    Extractor::new(
        &Extract {
            title: "title".into(),
            entry: "div.entry".into(),
            text: Some("p".into()),
            timestamp: Some("span.at".into()),
            timestamp_format: Some("%m月%d日 %H:%M".into()),
            link: Some("a".into()),
        },
        zone,
        Limits::default(),
    )
    .unwrap()
}

const HTML: &str = "<html><head><title>\n  日記\t の  一覧 </title></head><body>\
    <div class=entry><span class=at> 2月13日 16:45 </span><p> 渋谷で\n  ラーメン </p>\
    <a name=x>no href</a><a href=\"/view?id=1&amp;k=2\">more</a></div>\
    <div class=entry><p>two</p><span class=at>nope</span><a href=\"https://other.example/x\">x</a></div>\
    <div class=entry>no paragraph</div></body></html>";

#[test]
fn title_text_timestamp_and_link() {
    let page = extract(
        &extractor(),
        HTML,
        "http://site.example/list?page=1",
        at("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(page.title, "日記 の 一覧");
    assert_eq!(page.entries.len(), 3);
    let first = &page.entries[0];
    assert_eq!(first.text, "渋谷で ラーメン");
    assert_eq!(first.timestamp, Some(at("2026-02-13T16:45:00Z")));
    assert_eq!(
        first.link.as_deref(),
        Some("http://site.example/view?id=1&k=2")
    );
    assert_eq!(first.id.len(), 32);
    let second = &page.entries[1];
    assert_eq!((second.text.as_str(), second.timestamp), ("two", None));
    assert_eq!(second.link.as_deref(), Some("https://other.example/x"));
    let third = &page.entries[2];
    assert_eq!((third.text.as_str(), third.link.as_deref()), ("", None));
}

#[test]
fn timestamps_are_local_to_the_site_zone() {
    let now = at("2026-03-01T00:00:00Z");
    let read = |zone| extract(&extractor_in(zone), HTML, "http://x/", now).unwrap();
    assert_eq!(
        read(chrono_tz::Asia::Tokyo).entries[0].timestamp,
        Some(at("2026-02-13T07:45:00Z"))
    );
    assert_eq!(
        read(chrono_tz::America::New_York).entries[0].timestamp,
        Some(at("2026-02-13T21:45:00Z"))
    );
}

#[test]
fn without_a_text_selector_the_whole_entry_is_the_text() {
    let e = Extractor::new(&whole_entries("div.entry"), Tz::UTC, Limits::default()).unwrap();
    let page = extract(&e, HTML, "http://site.example/", Utc::now()).unwrap();
    assert_eq!(page.entries[2].text, "no paragraph");
    // Text nodes are joined as they are (XPath's `string()`): no space
    // is invented between elements, which would split Japanese words.
    assert_eq!(page.entries[1].text, "twonopex");
}

#[test]
fn ids_follow_the_markup() {
    let e = extractor();
    let now = Utc::now();
    let a = extract(&e, HTML, "http://site.example/", now).unwrap();
    let b = extract(&e, HTML, "http://elsewhere.example/", now).unwrap();
    let ids = |p: &Page| p.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    let changed = HTML.replace("two", "deux");
    let c = extract(&e, &changed, "http://site.example/", now).unwrap();
    assert_eq!(ids(&a)[0], ids(&c)[0]);
    assert_ne!(ids(&a)[1], ids(&c)[1]);
}

#[test]
fn no_entries_is_an_error_that_mentions_javascript() {
    let err = extract(
        &extractor(),
        "<html><body><div id=app></div></body></html>",
        "http://x/",
        Utc::now(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "no_entries");
    assert!(err.detail().contains("JavaScript"), "{err}");
    assert!(err.detail().contains("div.entry"), "{err}");
}

#[test]
fn bad_selectors_are_refused() {
    let mut extract = Extract {
        title: "title".into(),
        entry: "div..x[".into(),
        text: None,
        timestamp: None,
        timestamp_format: None,
        link: None,
    };
    assert!(Extractor::new(&extract, Tz::UTC, Limits::default()).is_err());
    extract.entry = "div".into();
    extract.timestamp = Some("span".into());
    assert!(
        Extractor::new(&extract, Tz::UTC, Limits::default()).is_err(),
        "timestamp without format"
    );
}

#[test]
fn an_entry_inside_an_entry_is_part_of_the_outer_one() {
    let html = "<body><div class=entry>one<div class=entry>two<div class=entry>three</div></div>\
        </div><p><div class=entry>four</div></p><div class=entry>five</div></body>";
    let e = Extractor::new(&whole_entries("div.entry"), Tz::UTC, Limits::default()).unwrap();
    let page = extract(&e, html, "http://x/", Utc::now()).unwrap();
    let texts: Vec<&str> = page.entries.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["onetwothree", "four", "five"]);
    let document = Html::parse_document(html);
    let outer = document
        .select(&Selector::parse("div.entry").unwrap())
        .next()
        .unwrap();
    assert_eq!(page.entries[0].id, content_id(outer.html().as_bytes()));
}

#[test]
fn ids_of_a_page_without_nesting_are_the_markup_hashes_they_always_were() {
    // What extraction did before nesting was handled: every match of the
    // entry selector, its id the hash of scraper's serialisation.
    let document = Html::parse_document(HTML);
    let before: Vec<String> = document
        .select(&Selector::parse("div.entry").unwrap())
        .map(|e| content_id(e.html().as_bytes()))
        .collect();
    let page = extract(&extractor(), HTML, "http://x/", Utc::now()).unwrap();
    let now: Vec<String> = page.entries.into_iter().map(|e| e.id).collect();
    assert_eq!(now, before);
}

fn with_limits(extract: &Extract, change: impl FnOnce(&mut Limits)) -> Extractor {
    let mut limits = Limits::default();
    change(&mut limits);
    Extractor::new(extract, Tz::UTC, limits).unwrap()
}

#[test]
fn entries_past_max_entries_are_dropped() {
    let html: String = (0..10)
        .map(|n| format!("<div class=entry>{n}</div>"))
        .collect();
    let e = with_limits(&whole_entries("div.entry"), |l| l.max_entries = 3);
    let page = extract(&e, &html, "http://x/", Utc::now()).unwrap();
    let texts: Vec<&str> = page.entries.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["0", "1", "2"]);
}

#[test]
fn text_and_title_are_cut_on_a_character_boundary() {
    let html = "<title>渋谷 新宿</title><div class=entry>渋谷で  ラーメン</div>";
    let e = with_limits(&whole_entries("div.entry"), |l| {
        l.max_entry_text_bytes = 8;
        l.max_title_bytes = 7;
    });
    let page = extract(&e, html, "http://x/", Utc::now()).unwrap();
    assert_eq!(page.entries[0].text, "渋谷");
    // The space would fit, the next character would not: neither is kept.
    assert_eq!(page.title, "渋谷");
    let e = with_limits(&whole_entries("div.entry"), |l| l.max_entry_text_bytes = 10);
    let page = extract(&e, html, "http://x/", Utc::now()).unwrap();
    assert_eq!(page.entries[0].text, "渋谷で");
}

#[test]
fn a_link_longer_than_a_url_may_be_is_dropped() {
    let long = format!("/view?q={}", "a".repeat(MAX_URL_BYTES));
    let html = format!(
        "<div class=entry><p>long</p><a href=\"{long}\">x</a></div>\
         <div class=entry><p>short</p><a href=\"/view?q=1\">x</a></div>"
    );
    let page = extract(&extractor(), &html, "http://x/", Utc::now()).unwrap();
    assert_eq!(page.entries[0].link, None);
    assert_eq!(page.entries[1].link.as_deref(), Some("http://x/view?q=1"));
}

#[test]
fn whatever_the_page_holds_its_events_are_within_the_limits() {
    use pagefeed_events::event::{EntryObserved, Event, PageRecord};
    let huge = "渋谷".repeat(200_000);
    let html = format!(
        "<title>{huge}</title><div class=entry><span class=at>{huge}</span><p>{huge}</p>\
         <a href=\"/{huge}\">x</a></div><div class=entry>{huge}</div>"
    );
    let now = Utc::now();
    let page = extract(&extractor(), &html, "http://x/", now).unwrap();
    let key: pagefeed_events::PageKey = "site.1".parse().unwrap();
    let mut events = vec![Event::PageCrawled(PageRecord {
        page: key.clone(),
        url: "http://x/".into(),
        title: page.title.clone(),
        crawled_at: now,
        status: 200,
        entries: 2,
    })];
    for entry in &page.entries {
        events.push(Event::EntryObserved(EntryObserved {
            page: key.clone(),
            id: entry.id.clone(),
            text: entry.text.clone(),
            timestamp: entry.timestamp,
            link: entry.link.clone(),
            observed_at: now,
            first_crawl: false,
        }));
    }
    for event in &events {
        assert_eq!(event.check_limits(), Ok(()));
    }
    assert_eq!(
        page.entries[0].text.len(),
        pagefeed_events::limits::MAX_TEXT_BYTES - 1
    );
    assert_eq!(page.entries[0].link, None);
}

#[test]
fn a_passed_deadline_is_a_parse_timeout() {
    let e = with_limits(&whole_entries("div.entry"), |l| {
        l.parse_deadline = Duration::ZERO
    });
    let err = extract(&e, HTML, "http://x/", Utc::now()).unwrap_err();
    assert_eq!(err.reason(), "parse_timeout");
    assert!(err.detail().contains("parse_deadline"), "{err}");
}

#[test]
fn an_extractor_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Extractor>();
}
