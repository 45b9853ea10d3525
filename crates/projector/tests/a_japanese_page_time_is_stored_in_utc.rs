//! A page that shows `2月13日 10:00`, crawled by a real fetcher for a site
//! with `timezone = "Asia/Tokyo"`, publishes that entry at 01:00 UTC, and
//! the projector's JSON API answers 01:00 UTC too; the same page read by a
//! site without a `timezone` is 10:00 UTC. The year is the one that puts the
//! time at most a day after the crawl.

use std::time::Duration;

use axum::http::header;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use pagefeed_events::event::EntryObserved;
use pagefeed_events::Event;
use pagefeed_testkit::config::{config_with, SAMPLE_EXTRACT};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::{
    events_last_seq, jetstream_at, publish_tasks, stored_events, wait_tasks_ended,
};
use tokio_util::sync::CancellationToken;

mod node;

/// One entry in the sample site's markup, at 10:00 on 13 February, no year.
const PAGE: &str = "<html><head><meta charset=\"utf-8\"><title>東京の日記</title></head><body>\
    <div class=\"feedEntry\"><div class=\"entryHead\"><ul><li class=\"timeStamp\">2月13日 10:00</li>\
    </ul></div><p class=\"comment\">朝の築地で寿司</p>\
    <ul><li class=\"viewLink\"><a href=\"/view?id=1\">もっと見る</a></li></ul></div></body></html>";

/// A site over id 1 of `url` (with `{id}`), `zone_line` among its settings.
fn site(name: &str, url: &str, zone_line: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\nurl = \"{url}\"\nids = {{ first = 1, last = 1 }}\n\
         interval = \"1h\"\nretention = \"7d\"\n{zone_line}\n{SAMPLE_EXTRACT}"
    )
}

/// 13 February at `hour`:00 UTC of the latest year that is at most a day
/// after `crawled`: what the fetcher must infer.
fn february_13(crawled: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    let latest = crawled + chrono::TimeDelta::days(1);
    (crawled.year() - 1..=crawled.year() + 1)
        .rev()
        .filter_map(|year| Utc.with_ymd_and_hms(year, 2, 13, hour, 0, 0).single())
        .find(|&t| t <= latest)
        .expect("one of three years")
}

fn entry_of<'a>(events: &'a [Event], page: &str) -> Option<&'a EntryObserved> {
    events.iter().find_map(|e| match e {
        Event::EntryObserved(o) if o.page.to_string() == page => Some(o),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_in_tokyo_is_one_in_utc_in_the_event_and_the_api() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let pages = format!("http://{}/diary?id={{id}}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let app = Router::new().route(
        "/diary",
        get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
    );
    let stopped = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await
    });

    let nats = NatsServer::start().await?;
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\n",
        &[
            site("tokyo", &pages, "timezone = \"Asia/Tokyo\""),
            site("plain", &pages, ""),
        ],
    );
    assert_eq!(
        cfg.site("tokyo").map(|s| s.timezone),
        Some(chrono_tz::Asia::Tokyo)
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let dir = tempfile::tempdir()?;
    let projector = node::Node::start(&cfg, dir.path(), "a")?;
    let fetcher = node::spawn_fetcher(&cfg);
    publish_tasks(&js, "tokyo", &pages, [1], 1).await?;
    publish_tasks(&js, "plain", &pages, [1], 1).await?;
    wait_tasks_ended(&js, 2, Duration::from_secs(60)).await?;
    fetcher.stop().await?;

    // The fetcher's events: Tokyo's 10:00 is 01:00 UTC.
    let events = stored_events(&js).await?;
    let tokyo = entry_of(&events, "tokyo.1").expect("the tokyo entry was published");
    let plain = entry_of(&events, "plain.1").expect("the plain entry was published");
    assert_eq!(tokyo.text, "朝の築地で寿司");
    let expected = february_13(tokyo.observed_at, 1);
    assert_eq!(
        tokyo.timestamp,
        Some(expected),
        "crawled at {}",
        tokyo.observed_at
    );
    assert_eq!(plain.timestamp, Some(february_13(plain.observed_at, 10)));
    assert_eq!(plain.id, tokyo.id, "the same markup: only the zone differs");

    // The projector stores and answers UTC.
    let client = node::http_client();
    let last = events_last_seq(&js).await?;
    projector
        .wait_applied(&client, last, Duration::from_secs(60))
        .await?;
    let body: serde_json::Value = client
        .get(format!(
            "http://{}/api/pages/tokyo.1/entries",
            projector.http
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let shown = &body["entries"][0];
    assert_eq!(shown["text"], "朝の築地で寿司", "{body}");
    assert_eq!(
        shown["timestamp"],
        expected.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "{body}"
    );
    assert!(
        shown["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with("T01:00:00Z")),
        "{body}"
    );

    projector.stop().await?;
    stop.cancel();
    server.await??;
    Ok(())
}
