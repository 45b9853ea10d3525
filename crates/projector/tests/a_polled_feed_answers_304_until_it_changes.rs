//! A feed reader polling a feed gets 304 Not Modified, with no body, for
//! as long as the feed has not changed, whether it sends the ETag
//! (`If-None-Match`) or the date (`If-Modified-Since`); events that do not
//! change the feed leave its ETag alone, and a new entry changes it.

mod feed;
mod node;

use std::time::Duration;

use feed::*;
use node::{http_client, publish, with_streams, Node};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_conditional_get_is_304_until_a_new_entry() -> anyhow::Result<()> {
    let (_nats, cfg, js) = with_streams().await?;
    let seq = publish(&js, &history()).await?;
    let dir = tempfile::tempdir()?;
    let node = Node::start(&cfg, dir.path(), "poll")?;
    let client = http_client();
    node.wait_applied(&client, seq, Duration::from_secs(60))
        .await?;
    let url = |path: &str| format!("http://{}{path}", node.http);
    let feeds: Vec<String> = FORMATS
        .iter()
        .flat_map(|f| {
            [
                format!("/feeds/pages/sample.1/{f}"),
                format!("/feeds/sites/sample/{f}"),
                format!("/feeds/search/{f}?q=%E6%B8%8B%E8%B0%B7"),
            ]
        })
        .collect();

    let mut first = Vec::new();
    for path in &feeds {
        let got = fetch(&client, &url(path), &[]).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        first.push((got.etag(), got.last_modified()));
    }
    let etags: std::collections::HashSet<_> = first.iter().map(|(e, _)| e).collect();
    assert_eq!(
        etags.len(),
        feeds.len(),
        "each feed and format has its own ETag"
    );

    // Polled twice: both validators give 304, with the validators and no
    // body; a stale ETag or an older date gives the feed.
    for _ in 0..2 {
        for (path, (etag, modified)) in feeds.iter().zip(&first) {
            let got = fetch(&client, &url(path), &[("if-none-match", etag)]).await;
            assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{path} by ETag");
            assert!(got.body.is_empty(), "{path}: a 304 with a body");
            assert_eq!(&got.etag(), etag, "{path}");
            assert_eq!(&got.last_modified(), modified, "{path}");
            let got = fetch(
                &client,
                &url(path),
                &[("if-none-match", &format!("\"x\", {etag}"))],
            )
            .await;
            assert_eq!(
                got.status,
                StatusCode::NOT_MODIFIED,
                "{path} among other ETags"
            );
            let got = fetch(&client, &url(path), &[("if-modified-since", modified)]).await;
            assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{path} by date");
            assert!(got.body.is_empty(), "{path}: a 304 with a body");
            // If-None-Match decides when both are sent (RFC 9110 13.2.2).
            let got = fetch(
                &client,
                &url(path),
                &[
                    ("if-none-match", "\"stale\""),
                    ("if-modified-since", modified),
                ],
            )
            .await;
            assert_eq!(got.status, StatusCode::OK, "{path}: a stale ETag");
            assert!(!got.body.is_empty(), "{path}");
            let got = fetch(
                &client,
                &url(path),
                &[("if-modified-since", "Mon, 23 Nov 2026 00:00:00 GMT")],
            )
            .await;
            assert_eq!(got.status, StatusCode::OK, "{path}: an older date");
        }
    }

    // A crawl that changes nothing of these feeds (an unchanged page, an
    // entry of another site's page that does not match the search) moves
    // the replica but not their ETags.
    let seq = publish(
        &js,
        &[
            page("sample.1", "日記 <b>&amp; one", "2026-11-25T03:00:00Z"),
            entry(
                "other.2",
                "h1",
                "nothing to find",
                None,
                None,
                "2026-11-25T03:00:00Z",
            ),
        ],
    )
    .await?;
    node.wait_applied(&client, seq, Duration::from_secs(60))
        .await?;
    for (path, (etag, _)) in feeds.iter().zip(&first) {
        let got = fetch(&client, &url(path), &[("if-none-match", etag)]).await;
        assert_eq!(
            got.status,
            StatusCode::NOT_MODIFIED,
            "{path} after an unrelated event"
        );
    }

    // A new entry of sample.1 that matches the search changes all three
    // feeds in every format.
    let seq = publish(
        &js,
        &[entry(
            "sample.1",
            "e9",
            "また渋谷",
            Some("2026-11-25T06:00:00+09:00"),
            Some("https://example.invalid/sample.1/e9"),
            "2026-11-25T04:00:00Z",
        )],
    )
    .await?;
    node.wait_applied(&client, seq, Duration::from_secs(60))
        .await?;
    for (path, (etag, modified)) in feeds.iter().zip(&first) {
        let got = fetch(&client, &url(path), &[("if-none-match", etag)]).await;
        assert_eq!(got.status, StatusCode::OK, "{path} after a new entry");
        assert_ne!(&got.etag(), etag, "{path}");
        assert!(
            got.parsed().entries.iter().any(|e| e.id.ends_with("/e9")),
            "{path}"
        );
        let got = fetch(&client, &url(path), &[("if-modified-since", modified)]).await;
        assert_eq!(got.status, StatusCode::OK, "{path}: the date moved too");
        assert_eq!(
            got.last_modified(),
            "Wed, 25 Nov 2026 04:00:00 GMT",
            "{path}"
        );
        // And the new validators give 304 again.
        let got = fetch(&client, &url(path), &[("if-none-match", &got.etag())]).await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{path}");
    }

    node.stop().await?;
    Ok(())
}
