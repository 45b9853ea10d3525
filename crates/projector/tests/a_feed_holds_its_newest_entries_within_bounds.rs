//! A feed is never paginated: it holds the newest 50 entries of its page,
//! newest first, and stops sooner at its byte budget when entries are
//! large (the first always goes); a page without entries has an empty
//! feed. Over real HTTP from a real redb file.

mod common;

use std::sync::Arc;

use common::*;
use pagefeed_projector::api::{ApiOptions, ApiState, Live};

#[tokio::test]
async fn a_feed_holds_the_newest_fifty_and_a_bounded_size() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_dir, store) = fresh();
    let mut events = vec![crawled("sample.1", "many", "2026-11-01T00:00:00Z")];
    for i in 0..60 {
        let when = format!("2026-10-01T{:02}:{:02}:00Z", i / 60, i % 60);
        events.push(entry(
            "sample.1",
            &format!("n{i:02}"),
            "short",
            Some(&when),
            "2026-11-01T00:00:00Z",
        ));
    }
    // Large entries: 30 of 60 KiB, 1.8 MiB in all.
    let big = "大".repeat(20 * 1024);
    events.push(crawled("sample.2", "large", "2026-11-01T00:00:00Z"));
    for i in 0..30 {
        let when = format!("2026-10-02T00:{i:02}:00Z");
        events.push(entry(
            "sample.2",
            &format!("b{i:02}"),
            &big,
            Some(&when),
            "2026-11-01T00:00:00Z",
        ));
    }
    events.push(crawled("sample.3", "empty", "2026-11-01T00:00:00Z"));
    apply(&store, &numbered(1, &events));
    let live = Arc::new(Live::new("a"));
    live.publish(&store).unwrap();
    let state = ApiState::new(Arc::new(store), live, ApiOptions::default()).unwrap();
    let (base, shutdown, server) = serve_api(state).await;
    let client = reqwest::Client::new();

    for format in ["atom", "rss", "json"] {
        let body = client
            .get(format!("{base}/feeds/pages/sample.1/{format}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let feed = feed_rs::parser::parse(body.as_ref()).unwrap();
        let ids: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.id.rsplit('/').next().unwrap().to_owned())
            .collect();
        let newest: Vec<String> = (10..60).rev().map(|i| format!("n{i:02}")).collect();
        assert_eq!(ids, newest, "{format}: the newest 50, newest first");

        let body = client
            .get(format!("{base}/feeds/pages/sample.2/{format}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let feed = feed_rs::parser::parse(body.as_ref()).unwrap();
        let n = feed.entries.len();
        // 60 KiB of text is about 60 KiB of JSON: 512 KiB hold 8.
        assert!((1..=9).contains(&n), "{format}: {n} large entries");
        assert_eq!(
            feed.entries[0].id, "tag:pagefeed,2026:entry/sample.2/b29",
            "{format}"
        );
        assert!(
            body.len() < 2 * 1024 * 1024,
            "{format}: {} bytes",
            body.len()
        );
    }
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
