//! A client walks every list of the HTTP API with `limit` and the `next`
//! cursor of each answer: it gets every page and every entry exactly once,
//! in order, even while new entries arrive; a search that runs out of its
//! work budget goes on from its cursor; a list of large entries stops at
//! the byte budget and gives a cursor for the rest.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pagefeed_events::Event;
use pagefeed_projector::api::{ApiOptions, ApiState, Live};
use pagefeed_projector::store::Store;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

struct Api {
    base: String,
    client: reqwest::Client,
    store: Arc<Store>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(events: &[Event], options: ApiOptions) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (dir, store) = fresh();
        apply(&store, &numbered(1, events));
        let store = Arc::new(store);
        let live = Arc::new(Live::new("a"));
        live.publish(&store).unwrap();
        let state = ApiState::new(store.clone(), live, options).unwrap();
        let (base, shutdown, _server) = serve_api(state).await;
        Api {
            base,
            client: reqwest::Client::new(),
            store,
            shutdown,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// Every answer of a walk of `path` (which has a `?`), from no cursor
    /// to the answer whose `next` is null; `between` runs after each one.
    async fn walk(&self, path: &str, mut between: impl FnMut(usize)) -> Vec<Value> {
        let mut answers = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}&cursor={c}"),
                None => path.to_owned(),
            };
            let (status, text) = self.get(&url).await;
            assert_eq!(status, StatusCode::OK, "{url}: {text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert!(answers.len() < 10_000, "{path}: the walk does not end");
            between(answers.len());
            cursor = body["next"].as_str().map(str::to_owned);
            assert!(
                cursor.is_some() || body["next"].is_null(),
                "{url}: next is a string or null: {text}"
            );
            answers.push(body);
            if cursor.is_none() {
                return answers;
            }
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn ids(answers: &[Value], field: &str, key: &str) -> Vec<String> {
    answers
        .iter()
        .flat_map(|a| a[field].as_array().unwrap().clone())
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}

/// 9 pages of 17 entries, on few distinct instants (ties within a page
/// and across pages), about a third of them mentioning 渋谷.
fn many_entries() -> Vec<Event> {
    let mut events = Vec::new();
    for page in 1..=9 {
        let key = format!("sample.{page}");
        events.push(crawled(&key, "日記", "2026-11-01T00:00:00Z"));
        for n in 0..17 {
            let hour = (page * 7 + n * 3) % 5;
            let text = if n % 3 == 0 {
                format!("{n}: 渋谷へ")
            } else {
                format!("{n}: 新宿へ")
            };
            events.push(entry(
                &key,
                &format!("e{n:02}"),
                &text,
                Some(&format!("2026-10-20T{hour:02}:00:00Z")),
                "2026-11-01T00:00:00Z",
            ));
        }
    }
    events
}

fn entry_key(e: &pagefeed_projector::store::EntryView) -> String {
    format!("{}/{}", e.page, e.id)
}

fn walked_entries(answers: &[Value]) -> Vec<String> {
    answers
        .iter()
        .flat_map(|a| a["entries"].as_array().unwrap().clone())
        .map(|e| {
            format!(
                "{}/{}",
                e["page"].as_str().unwrap(),
                e["id"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn walking_pages_and_entries_with_cursors_returns_each_once_in_order() {
    let api = Api::start(&many_entries(), ApiOptions::default()).await;

    let answers = api.walk("/api/pages?limit=2", |_| {}).await;
    let keys = ids(&answers, "pages", "key");
    let want: Vec<String> = api
        .store
        .pages()
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(keys, want);
    assert_eq!(answers.len(), 5, "9 pages, 2 a time");

    let want: Vec<String> = api
        .store
        .page_entries("sample.4", 1000)
        .unwrap()
        .iter()
        .map(entry_key)
        .collect();
    let answers = api
        .walk("/api/pages/sample.4/entries?limit=3", |_| {})
        .await;
    assert_eq!(walked_entries(&answers), want);
    assert_eq!(want.len(), 17);

    let want: Vec<String> = api
        .store
        .newest_entries(1000)
        .unwrap()
        .iter()
        .map(entry_key)
        .collect();
    let answers = api.walk("/api/entries?limit=7", |_| {}).await;
    assert_eq!(walked_entries(&answers), want);
    assert_eq!(want.len(), 9 * 17);

    let q = "%E6%B8%8B%E8%B0%B7"; // 渋谷
    let want: Vec<String> = api
        .store
        .search("渋谷", 1000)
        .unwrap()
        .iter()
        .map(entry_key)
        .collect();
    let answers = api
        .walk(&format!("/api/entries?q={q}&limit=4"), |_| {})
        .await;
    assert_eq!(walked_entries(&answers), want);
    assert_eq!(want.len(), 9 * 6);

    // A cursor of one list is refused by another, and garbage is refused.
    let newest_cursor = api.walk("/api/entries?limit=200", |_| {}).await;
    assert!(newest_cursor[0]["next"].is_null(), "one window: no cursor");
    let (_, text) = api.get("/api/entries?limit=2").await;
    let cursor = serde_json::from_str::<Value>(&text).unwrap()["next"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/api/pages?cursor={cursor}"),
        format!("/api/entries?q=x&cursor={cursor}"),
        "/api/entries?cursor=not-a-cursor".to_owned(),
        format!("/api/entries?cursor={}", "A".repeat(5000)),
    ] {
        let (status, text) = api.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
    }
}

#[tokio::test]
async fn entries_arriving_during_a_walk_neither_repeat_nor_hide_the_others() {
    let api = Api::start(&many_entries(), ApiOptions::default()).await;
    let want: Vec<String> = api
        .store
        .newest_entries(1000)
        .unwrap()
        .iter()
        .map(entry_key)
        .collect();
    // Newer entries land at the head of the list while the client walks
    // it: an offset would shift every later window by as many.
    let store = api.store.clone();
    let mut seq = 1000;
    let answers = api
        .walk("/api/entries?limit=10", |_| {
            seq += 1;
            let newer = entry(
                "sample.1",
                &format!("new{seq}"),
                "渋谷へ new",
                Some("2026-11-30T00:00:00Z"),
                "2026-11-30T00:00:00Z",
            );
            apply(&store, &numbered(seq, &[newer]));
        })
        .await;
    assert_eq!(walked_entries(&answers), want);
}

#[tokio::test]
async fn a_search_out_of_budget_says_partial_and_goes_on_from_its_cursor() {
    let options = ApiOptions {
        search_budget: pagefeed_projector::store::SearchBudget {
            candidates: 5,
            ..Default::default()
        },
        ..ApiOptions::default()
    };
    let api = Api::start(&many_entries(), options).await;
    let want: Vec<String> = api
        .store
        .search("渋谷", 1000)
        .unwrap()
        .iter()
        .map(entry_key)
        .collect();
    let q = "%E6%B8%8B%E8%B0%B7"; // 渋谷
    let answers = api
        .walk(&format!("/api/entries?q={q}&limit=20"), |_| {})
        .await;
    assert_eq!(walked_entries(&answers), want);
    assert!(
        answers
            .iter()
            .all(|a| a["entries"].as_array().unwrap().len() <= 5),
        "five candidates checked at most per answer"
    );
    let partial: Vec<&Value> = answers.iter().filter(|a| a["partial"] == true).collect();
    assert!(
        partial.len() >= want.len() / 5,
        "{} partial answers",
        partial.len()
    );
    assert!(partial.iter().all(|a| a["next"].is_string()));
}

#[tokio::test]
async fn a_list_of_large_entries_stops_at_the_byte_budget_with_a_cursor() {
    // 100 entries of 60 KB: 6 MB of text, over the 4 MiB budget.
    let big = "渋谷".repeat(10_000);
    let mut events = vec![crawled("sample.1", "big", "2026-11-01T00:00:00Z")];
    for n in 0..100 {
        events.push(entry(
            "sample.1",
            &format!("e{n:03}"),
            &format!("{n} {big}"),
            Some(&format!("2026-10-20T00:{:02}:{:02}Z", n / 60, n % 60)),
            "2026-11-01T00:00:00Z",
        ));
    }
    let api = Api::start(&events, ApiOptions::default()).await;
    for path in [
        "/api/pages/sample.1/entries?limit=100",
        "/api/entries?limit=100",
    ] {
        let (status, text) = api.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            text.len() <= 4 * 1024 * 1024,
            "{path}: {} bytes",
            text.len()
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        let n = body["entries"].as_array().unwrap().len();
        assert!((50..100).contains(&n), "{path}: {n} entries");
        assert_eq!(body["partial"], true, "{path}");
        assert!(body["next"].is_string(), "{path}");

        let answers = api.walk(path, |_| {}).await;
        let walked = walked_entries(&answers);
        assert_eq!(walked.len(), 100, "{path}");
        let want: Vec<String> = (0..100)
            .rev()
            .map(|n| format!("sample.1/e{n:03}"))
            .collect();
        assert_eq!(walked, want, "{path}");
    }
}

/// Pages are listed as people count them, across cursors: `sample.9`
/// before `sample.10`, not after `sample.100`.
#[tokio::test]
async fn pages_are_listed_in_natural_order() {
    let events: Vec<Event> = [
        "sample.100",
        "sample.10",
        "sample.9",
        "sample.2",
        "sample.1",
        "blogs.rust",
    ]
    .iter()
    .map(|key| crawled(key, "日記", "2026-11-01T00:00:00Z"))
    .collect();
    let api = Api::start(&events, ApiOptions::default()).await;
    let answers = api.walk("/api/pages?limit=2", |_| {}).await;
    assert_eq!(
        ids(&answers, "pages", "key"),
        [
            "blogs.rust",
            "sample.1",
            "sample.2",
            "sample.9",
            "sample.10",
            "sample.100"
        ]
    );
}
