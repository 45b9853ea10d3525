//! The feeds of a page, a site and a Japanese search, from two nodes that
//! replayed the same stream, read back by feed-rs: every format and every
//! node gives each entry the same id, the same dates (with their offset)
//! and the same links; a hostile entry is inert (escaped, its control
//! characters and its `javascript:` link dropped) and every feed is
//! well-formed.

mod feed;
mod node;

use std::time::Duration;

use feed::*;
use node::{http_client, publish, with_streams, Node};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_of_every_feed_agrees_on_both_nodes() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let seq = publish(&js, &history()).await?;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = Node::start(&cfg, dir_a.path(), "feed-a")?;
    let b = Node::start(&cfg, dir_b.path(), "feed-b")?;
    let client = http_client();
    for n in [&a, &b] {
        n.wait_applied(&client, seq, Duration::from_secs(60))
            .await?;
    }

    let targets = [
        "/feeds/pages/sample.1",
        "/feeds/sites/sample",
        "/feeds/search/{format}?q=渋谷",
    ];
    let mut by_target = Vec::new();
    for target in targets {
        let mut per_format = Vec::new();
        for format in FORMATS {
            let path = if target.contains("{format}") {
                target.replace("{format}", format)
            } else {
                format!("{target}/{format}")
            };
            let from_a = fetch(&client, &format!("http://{}{path}", a.http), &[]).await;
            let from_b = fetch(&client, &format!("http://{}{path}", b.http), &[]).await;
            assert_eq!(from_a.status, StatusCode::OK, "{path}: {}", from_a.text());
            assert_eq!(from_b.status, StatusCode::OK, "{path}");
            let mime = match format {
                "atom" => "application/atom+xml; charset=utf-8",
                "rss" => "application/rss+xml; charset=utf-8",
                _ => "application/feed+json",
            };
            assert_eq!(from_a.content_type(), mime, "{path}");
            // The same replica state: the same bytes and validators.
            assert_eq!(from_a.body, from_b.body, "{path}: nodes differ");
            assert_eq!(from_a.etag(), from_b.etag(), "{path}");
            assert_eq!(from_a.last_modified(), from_b.last_modified(), "{path}");
            check_inert(&path, &from_a);
            let feed = from_a.parsed();
            let read = entries(&feed);
            assert_eq!(
                entries(&from_b.parsed()),
                read,
                "{path}: nodes read differently"
            );
            check_dates_and_links(&path, format, &from_a, &read);
            per_format.push((format, feed, read));
        }
        // Every format: the same entries under the same ids, in the same
        // order, with the same dates, links and page.
        let (_, first_feed, first) = &per_format[0];
        for (format, feed, read) in &per_format[1..] {
            let key = |r: &Read| {
                (
                    r.id.clone(),
                    r.published,
                    r.links.clone(),
                    r.authors.clone(),
                )
            };
            assert_eq!(
                read.iter().map(key).collect::<Vec<_>>(),
                first.iter().map(key).collect::<Vec<_>>(),
                "{target}: {format} differs from atom"
            );
            assert_eq!(
                feed.title.as_ref().map(|t| &t.content),
                first_feed.title.as_ref().map(|t| &t.content),
                "{target} {format}"
            );
        }
        by_target.push(first.clone());
    }

    let ids = |read: &Vec<Read>| read.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let tag = |page: &str, id: &str| format!("tag:pagefeed,2026:entry/{page}/{id}");
    let hostile = tag("sample.1", "x%2Fy%20%3Cz%3E");
    // Newest first: e2 sorts by when it was first seen.
    assert_eq!(
        ids(&by_target[0]),
        [
            tag("sample.1", "e2"),
            hostile.clone(),
            tag("sample.1", "e1")
        ]
    );
    assert_eq!(
        ids(&by_target[1]),
        [
            tag("sample.1", "e2"),
            tag("sample.2", "f1"),
            hostile,
            tag("sample.1", "e1")
        ],
        "the site's pages, and no other site's"
    );
    assert_eq!(
        ids(&by_target[2]),
        [
            tag("other.1", "g1"),
            tag("sample.2", "f1"),
            tag("sample.1", "e1")
        ],
        "a Japanese search over every site"
    );
    // The same entry has the same id in every feed it is in.
    let e1 = |read: &Vec<Read>| read.iter().find(|r| r.id == tag("sample.1", "e1")).cloned();
    assert_eq!(
        e1(&by_target[0]).map(|r| r.published),
        e1(&by_target[2]).map(|r| r.published)
    );

    // The page's title names the entries' page; the text is the entry's.
    let page_feed = &by_target[0];
    assert_eq!(page_feed[2].authors, ["日記 <b>&amp; one"]);
    assert_eq!(
        page_feed[2].title.as_deref(),
        Some("今日は渋谷でラーメンを食べました")
    );

    // Nothing that names no page or site or format is a feed.
    for (path, status) in [
        ("/feeds/pages/sample.9/atom", StatusCode::NOT_FOUND),
        ("/feeds/sites/nosuch/rss", StatusCode::NOT_FOUND),
        ("/feeds/pages/sample.1/html", StatusCode::NOT_FOUND),
        ("/feeds/search/json?q=", StatusCode::BAD_REQUEST),
        ("/feeds/search/json", StatusCode::BAD_REQUEST),
    ] {
        let got = fetch(&client, &format!("http://{}{path}", a.http), &[]).await;
        assert_eq!(got.status, status, "{path}: {}", got.text());
    }
    let long = format!("/feeds/search/atom?q={}", "渋".repeat(257));
    let got = fetch(&client, &format!("http://{}{long}", a.http), &[]).await;
    assert_eq!(
        got.status,
        StatusCode::BAD_REQUEST,
        "a query over the API's bound"
    );

    a.stop().await?;
    b.stop().await?;
    Ok(())
}

/// Times carry their offset in the text, on the clocks of their site
/// (`sample` is in Asia/Tokyo, like the sample site it stands for), and
/// feed-rs reads the same instants back; only http(s) links survive.
fn check_dates_and_links(path: &str, format: &str, fetched: &Fetched, read: &[Read]) {
    let text = fetched.text();
    if path.contains("sample.1") || path.contains("sample/") {
        let shown = match format {
            "rss" => "Fri, 20 Nov 2026 18:00:00 +0900",
            _ => "2026-11-20T18:00:00+09:00",
        };
        assert!(text.contains(shown), "{path}: no {shown:?} in {text}");
    }
    for r in read {
        let e = |id: &str| r.id.ends_with(&format!("/{id}"));
        let published = r
            .published
            .unwrap_or_else(|| panic!("{path}: {} has no date", r.id));
        if e("e1") {
            assert_eq!(published, at("2026-11-20T09:00:00Z"), "{path}");
            assert_eq!(r.links, ["https://example.invalid/sample.1/e1"], "{path}");
        }
        if e("e2") {
            assert_eq!(published, at("2026-11-24T03:00:00Z"), "{path}: first seen");
            assert_eq!(
                r.links,
                ["http://example.invalid/sample.1/e2?a=1&b=2"],
                "{path}"
            );
        }
        if e("f1") || e("x%2Fy%20%3Cz%3E") {
            assert!(r.links.is_empty(), "{path}: {} kept {:?}", r.id, r.links);
        }
    }
}

/// The hostile entry is text in every format: no markup, no control
/// character, no `javascript:` or `data:` link, and the feed well-formed.
fn check_inert(path: &str, fetched: &Fetched) {
    let text = fetched.text();
    let json = path.ends_with("json") || path.contains("/json?");
    // JSON Feed's `content_text` and `title` are plain text, never HTML:
    // there the markup stays as text, and no browser may sniff it as HTML.
    if !json {
        assert!(!text.contains("<script"), "{path}: markup in {text}");
    }
    assert_eq!(
        fetched
            .header(reqwest::header::X_CONTENT_TYPE_OPTIONS)
            .as_deref(),
        Some("nosniff"),
        "{path}"
    );
    assert!(!text.contains("javascript:"), "{path}: {text}");
    assert!(!text.contains("data:text"), "{path}: {text}");
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        "{path}: a control character in {text:?}"
    );
    if json {
        let feed = json_feed_model::from_slice(&fetched.body).expect("a JSON object");
        assert!(
            feed.is_valid(&json_feed_model::Version::Version1_1),
            "{path}: {text}"
        );
    } else {
        well_formed(text).unwrap_or_else(|e| panic!("{path}: not well-formed {e}: {text}"));
    }
    let feed = fetched.parsed();
    for e in entries(&feed) {
        if e.id.ends_with("x%2Fy%20%3Cz%3E") {
            let kept = "]]> <![CDATA[x]]> [31mbell\nend";
            if path.contains("rss") {
                // RSS readers take a description as HTML: it is escaped.
                assert!(
                    e.text
                        .starts_with("&lt;script&gt;alert(1)&lt;/script&gt; ]]&gt;"),
                    "{path}: {:?}",
                    e.text
                );
            } else {
                assert_eq!(
                    e.text,
                    format!("<script>alert(1)</script> {kept}"),
                    "{path}"
                );
            }
        }
    }
}
