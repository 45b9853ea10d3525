//! Event builders shared by the projector's scenario tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use pagefeed_events::event::{EntryObserved, FetchFailed, PageRecord, Retention};
use pagefeed_events::Event;
use pagefeed_projector::store::{Logged, Store};
use tempfile::TempDir;

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn crawled(page: &str, title: &str, when: &str) -> Event {
    Event::PageCrawled(PageRecord {
        page: page.parse().unwrap(),
        url: format!("http://example.invalid/{page}"),
        title: title.into(),
        crawled_at: at(when),
        status: 200,
        entries: 3,
    })
}

pub fn unchanged(page: &str, title: &str, when: &str) -> Event {
    match crawled(page, title, when) {
        Event::PageCrawled(p) => Event::PageUnchanged(PageRecord { status: 304, ..p }),
        _ => unreachable!(),
    }
}

pub fn entry(page: &str, id: &str, text: &str, timestamp: Option<&str>, seen: &str) -> Event {
    Event::EntryObserved(EntryObserved {
        page: page.parse().unwrap(),
        id: id.into(),
        text: text.into(),
        timestamp: timestamp.map(at),
        link: Some(format!("http://example.invalid/{page}/{id}")),
        observed_at: at(seen),
        first_crawl: false,
    })
}

pub fn failed(page: &str, when: &str) -> Event {
    Event::FetchFailed(FetchFailed {
        page: page.parse().unwrap(),
        url: format!("http://example.invalid/{page}"),
        failed_at: at(when),
        reason: "http_status".into(),
        detail: "404 Not Found".into(),
        status: Some(404),
        attempts: 5,
    })
}

pub fn retention(site: &str, cutoff: &str) -> Event {
    Event::Retention(Retention {
        site: site.into(),
        cutoff: at(cutoff),
        keep_secs: 7 * 86400,
        except: Vec::new(),
    })
}

/// The retention of every site but `except`.
pub fn retention_of_others(except: &[&str], cutoff: &str) -> Event {
    Event::Retention(Retention {
        site: pagefeed_events::event::ALL_SITES.into(),
        cutoff: at(cutoff),
        keep_secs: 7 * 86400,
        except: except.iter().map(|s| s.to_string()).collect(),
    })
}

/// When the tests' events were stored in the stream, unless a test says
/// otherwise: after every time the events claim, so that they keep them.
pub const PUBLISHED: &str = "2026-12-31T00:00:00Z";

/// Events numbered from `first` as (sequence, payload).
pub fn numbered(first: u64, events: &[Event]) -> Vec<(u64, Vec<u8>)> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| (first + i as u64, e.encode()))
        .collect()
}

/// Applies `batch` as stored at [`PUBLISHED`].
pub fn apply(store: &Store, batch: &[(u64, Vec<u8>)]) -> pagefeed_projector::store::ApplyStats {
    apply_published(store, batch, PUBLISHED)
}

/// Applies `batch` as stored in the stream at `published`.
pub fn apply_published(
    store: &Store,
    batch: &[(u64, Vec<u8>)],
    published: &str,
) -> pagefeed_projector::store::ApplyStats {
    let published = at(published);
    let logged: Vec<Logged> = batch
        .iter()
        .map(|(seq, payload)| Logged {
            seq: *seq,
            published,
            payload: payload.as_slice(),
        })
        .collect();
    store.apply_batch(&logged).unwrap()
}

pub fn fresh() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("projector.redb")).unwrap();
    (dir, store)
}

/// A mixed history: two sites, re-observations, an unchanged crawl and a
/// failure of a page never crawled.
pub fn history() -> Vec<Event> {
    vec![
        crawled("sample.1", "日記1", "2026-11-01T00:00:00Z"),
        entry(
            "sample.1",
            "a1",
            "今日は渋谷でラーメンを食べました",
            Some("2026-10-31T12:00:00Z"),
            "2026-11-01T00:00:00Z",
        ),
        entry(
            "sample.1",
            "a2",
            "Learning RUST today",
            None,
            "2026-11-01T00:00:00Z",
        ),
        crawled("other.7", "Other", "2026-11-01T01:00:00Z"),
        entry(
            "other.7",
            "b1",
            "rust and redb",
            Some("2026-11-01T00:30:00Z"),
            "2026-11-01T01:00:00Z",
        ),
        failed("sample.9", "2026-11-01T02:00:00Z"),
        unchanged("sample.1", "日記1", "2026-11-02T00:00:00Z"),
        // Seen again, earlier observation arriving later: first_seen moves back.
        entry(
            "sample.1",
            "a2",
            "Learning RUST today",
            None,
            "2026-10-30T00:00:00Z",
        ),
        entry(
            "sample.1",
            "a1",
            "今日は渋谷でラーメンを食べました",
            Some("2026-10-31T12:00:00Z"),
            "2026-11-02T00:00:00Z",
        ),
        failed("sample.1", "2026-11-03T00:00:00Z"),
    ]
}

/// Serves `state`'s API on a free loopback port until the token is
/// cancelled: its base URL, the token, and the server's task.
pub async fn serve_api(
    state: pagefeed_projector::api::ApiState,
) -> (
    String,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(pagefeed_projector::api::serve(
        listener,
        state,
        shutdown.clone(),
    ));
    (base, shutdown, server)
}
