//! What the feed scenarios share: the events of two sites (one entry
//! hostile), a feed fetched over HTTP with its validators, and the feed
//! read back by feed-rs, an independent parser.
#![allow(dead_code)] // each scenario uses its own part

use chrono::{DateTime, Utc};
use pagefeed_events::event::{EntryObserved, PageRecord};
use pagefeed_events::Event;
use reqwest::header::{HeaderMap, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use reqwest::StatusCode;

pub const FORMATS: [&str; 3] = ["atom", "rss", "json"];

/// What the hostile entry's text holds: markup, a CDATA end, control
/// characters.
pub const HOSTILE_TEXT: &str =
    "<script>alert(1)</script> ]]> <![CDATA[x]]> \u{0}\u{1b}[31m\u{7}\u{8}bell\r\nend";

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a time")
}

pub fn page(key: &str, title: &str, when: &str) -> Event {
    Event::PageCrawled(PageRecord {
        page: key.parse().expect("a page key"),
        url: format!("https://example.invalid/{key}"),
        title: title.into(),
        crawled_at: at(when),
        status: 200,
        entries: 2,
    })
}

pub fn entry(
    key: &str,
    id: &str,
    text: &str,
    timestamp: Option<&str>,
    link: Option<&str>,
    seen: &str,
) -> Event {
    Event::EntryObserved(EntryObserved {
        page: key.parse().expect("a page key"),
        id: id.into(),
        text: text.into(),
        timestamp: timestamp.map(at),
        link: link.map(str::to_owned),
        observed_at: at(seen),
        first_crawl: false,
    })
}

/// Two pages of site `sample`, one of site `other`: entries with and
/// without a timestamp of their own, Japanese text, and one hostile entry
/// (markup, `]]>`, control characters, a `javascript:` link, an id with
/// a slash).
pub fn history() -> Vec<Event> {
    vec![
        entry(
            "sample.1",
            "e1",
            "今日は渋谷でラーメンを食べました",
            Some("2026-11-20T09:00:00Z"),
            Some("https://example.invalid/sample.1/e1"),
            "2026-11-24T03:00:00Z",
        ),
        entry(
            "sample.1",
            "e2",
            "Learning RUST, no date of its own",
            None,
            Some("http://example.invalid/sample.1/e2?a=1&b=2"),
            "2026-11-24T03:00:00Z",
        ),
        entry(
            "sample.1",
            "x/y <z>",
            HOSTILE_TEXT,
            Some("2026-11-21T00:00:00Z"),
            Some("javascript:alert(document.cookie)"),
            "2026-11-24T03:00:00Z",
        ),
        page("sample.1", "日記 <b>&amp; one", "2026-11-24T03:00:00Z"),
        entry(
            "sample.2",
            "f1",
            "渋谷駅の近く",
            Some("2026-11-22T12:30:00Z"),
            Some("data:text/html,<script>alert(1)</script>"),
            "2026-11-24T03:00:00Z",
        ),
        page("sample.2", "日記 two", "2026-11-24T03:00:00Z"),
        entry(
            "other.1",
            "g1",
            "渋谷 elsewhere",
            Some("2026-11-23T00:00:00Z"),
            Some("https://example.invalid/other.1/g1"),
            "2026-11-24T03:00:00Z",
        ),
        page("other.1", "Other", "2026-11-24T03:00:00Z"),
    ]
}

/// A feed as fetched.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn header(&self, name: reqwest::header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header").to_owned())
    }

    pub fn etag(&self) -> String {
        self.header(ETAG).expect("an ETag")
    }

    pub fn last_modified(&self) -> String {
        self.header(LAST_MODIFIED).expect("a Last-Modified")
    }

    pub fn content_type(&self) -> String {
        self.header(CONTENT_TYPE).expect("a Content-Type")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8")
    }

    /// The feed read back by feed-rs.
    pub fn parsed(&self) -> feed_rs::model::Feed {
        feed_rs::parser::parse(self.body.as_slice())
            .unwrap_or_else(|e| panic!("feed-rs cannot read the feed: {e}\n{}", self.text()))
    }
}

/// GETs `url` with `headers` (name, value).
pub async fn fetch(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Fetched {
    let mut req = client.get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("the node answers");
    Fetched {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.expect("a body").to_vec(),
    }
}

/// An entry as feed-rs read it: id, published, links, title, text, authors.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub id: String,
    pub published: Option<DateTime<Utc>>,
    pub links: Vec<String>,
    pub title: Option<String>,
    pub text: String,
    pub authors: Vec<String>,
}

pub fn entries(feed: &feed_rs::model::Feed) -> Vec<Read> {
    feed.entries
        .iter()
        .map(|e| Read {
            id: e.id.clone(),
            published: e.published,
            links: e.links.iter().map(|l| l.href.clone()).collect(),
            title: e.title.as_ref().map(|t| t.content.clone()),
            text: e
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .or_else(|| e.summary.as_ref().map(|s| s.content.clone()))
                .unwrap_or_default(),
            authors: e.authors.iter().filter_map(|a| a.name.clone()).collect(),
        })
        .collect()
}

/// Reads `xml` through quick-xml to its end: an error if it is not
/// well-formed.
pub fn well_formed(xml: &str) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("at {}: {e}", reader.buffer_position())),
        }
    }
}
