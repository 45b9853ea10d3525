//! The HTTP API answers over real loopback HTTP from a real redb file:
//! status, pages, entries newest first, Japanese search, limits, errors and
//! metrics.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pagefeed_projector::api::{ApiOptions, ApiState, Live};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

struct Api {
    base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
}

impl Api {
    async fn start() -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (dir, store) = fresh();
        let events = vec![
            crawled("sample.1", "日記1", "2026-11-01T00:00:00Z"),
            entry(
                "sample.1",
                "old",
                "今日は渋谷でラーメンを食べました",
                Some("2026-10-30T12:00:00Z"),
                "2026-11-01T00:00:00Z",
            ),
            entry(
                "sample.1",
                "mid",
                "Learning RUST today",
                Some("2026-10-31T12:00:00Z"),
                "2026-11-01T00:00:00Z",
            ),
            entry(
                "sample.1",
                "new",
                "渋谷 again, then home",
                Some("2026-10-31T18:00:00Z"),
                "2026-11-01T00:00:00Z",
            ),
            crawled("sample.2", "日記2", "2026-11-01T00:00:00Z"),
            entry(
                "sample.2",
                "p2",
                "渋谷駅の近く",
                Some("2026-10-29T00:00:00Z"),
                "2026-11-01T00:00:00Z",
            ),
            failed("sample.3", "2026-11-01T01:00:00Z"),
        ];
        let mut batch = numbered(1, &events);
        batch.push((8, b"not json".to_vec()));
        let stats = apply(&store, &batch);

        let live = Arc::new(Live::new("node-a"));
        live.stream_last_seq.store(10, Ordering::Relaxed);
        live.record_commit(Duration::from_millis(5), &stats);
        live.publish(&store).unwrap();
        let state = ApiState::new(Arc::new(store), live, ApiOptions::default()).unwrap();
        let (base, shutdown, server) = serve_api(state).await;
        Api {
            base,
            client: reqwest::Client::new(),
            shutdown,
            server,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn entry_ids(&self, path: &str) -> Vec<String> {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("the server stops on shutdown")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn status_reports_the_replica_and_the_lag() {
    let api = Api::start().await;
    let (status, body) = api.get("/api/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["node"], "node-a");
    assert_eq!(body["applied_seq"], 8);
    assert_eq!(body["stream_last_seq"], 10);
    assert_eq!(body["lag"], 2);
    assert_eq!(body["pages"], 3);
    assert_eq!(body["entries"], 4);
    assert_eq!(body["rejected"], 1);
    let digest = body["digest"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    api.stop().await;
}

#[tokio::test]
async fn pages_are_listed_and_looked_up() {
    let api = Api::start().await;
    let (status, body) = api.get("/api/pages").await;
    assert_eq!(status, StatusCode::OK);
    let pages = body["pages"].as_array().unwrap();
    let keys: Vec<&str> = pages.iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["sample.1", "sample.2", "sample.3"]);
    let first = &pages[0];
    assert_eq!(first["url"], "http://example.invalid/sample.1");
    assert_eq!(first["title"], "日記1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["entries"], 3);
    assert!(first["last_crawled"].is_string());

    let (status, page) = api.get("/api/pages/sample.3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["failure"]["reason"], "http_status");
    assert_eq!(page["failure"]["status"], 404);

    let (status, body) = api.get("/api/pages/sample.404").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    api.stop().await;
}

#[tokio::test]
async fn entries_come_newest_first_within_the_limit() {
    let api = Api::start().await;
    let ids = api.entry_ids("/api/pages/sample.1/entries").await;
    assert_eq!(ids, ["new", "mid", "old"]);
    let ids = api.entry_ids("/api/pages/sample.1/entries?limit=2").await;
    assert_eq!(ids, ["new", "mid"]);

    let (status, body) = api.get("/api/pages/sample.1/entries?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    let e = &body["entries"][0];
    assert_eq!(e["page"], "sample.1");
    assert_eq!(e["text"], "渋谷 again, then home");
    assert_eq!(e["timestamp"], "2026-10-31T18:00:00Z");
    assert_eq!(e["link"], "http://example.invalid/sample.1/new");

    let (status, body) = api.get("/api/pages/sample.404/entries").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());

    let ids = api.entry_ids("/api/entries").await;
    assert_eq!(ids, ["new", "mid", "old", "p2"]);
    let ids = api.entry_ids("/api/entries?limit=1").await;
    assert_eq!(ids, ["new"]);
    api.stop().await;
}

#[tokio::test]
async fn search_finds_a_japanese_substring_within_the_limit() {
    let api = Api::start().await;
    let q = "/api/entries?q=%E6%B8%8B%E8%B0%B7"; // 渋谷
    assert_eq!(api.entry_ids(q).await, ["new", "old", "p2"]);
    assert_eq!(api.entry_ids(&format!("{q}&limit=2")).await, ["new", "old"]);
    assert_eq!(api.entry_ids("/api/entries?q=rust").await, ["mid"]);
    assert!(api.entry_ids("/api/entries?q=python").await.is_empty());
    api.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_json() {
    let api = Api::start().await;
    let long_query = format!("/api/entries?q={}", "ab".repeat(129));
    for path in [
        long_query.as_str(),
        "/api/entries?limit=0",
        "/api/entries?limit=abc",
        "/api/entries?limit=100000",
        "/api/entries?limit=1001",
        "/api/entries?limit=",
        "/api/entries?q=",
        "/api/entries?q=&limit=5",
        "/api/pages/sample.1/entries?limit=0",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    assert_eq!(api.entry_ids("/api/entries?limit=1000").await.len(), 4);
    let longest = format!("/api/entries?q={}", "ab".repeat(128));
    assert!(api.entry_ids(&longest).await.is_empty());

    let (status, body) = api.get("/api/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    api.stop().await;
}

/// hyper alone would answer a request line over 65,534 bytes with an
/// empty 414; the API answers it in JSON like any other bad request, and
/// the connection goes on.
#[tokio::test]
async fn an_over_long_query_is_refused_with_json_too() {
    let api = Api::start().await;
    // Over 16 KiB, and under it (a `q` over 256 characters all the same).
    // reqwest builds no request line over 64 KiB: the raw ones below do.
    for q in ["渋".repeat(1_900), "a".repeat(10_000), "渋".repeat(1_500)] {
        let (status, body) = api.get(&format!("/api/entries?q={q}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("256 characters"), "{error}");
        // The same client, on the same connection: answered as usual.
        assert_eq!(api.entry_ids("/api/entries?q=渋谷").await.len(), 3);
    }

    // 10,000 characters percent-encoded (90,000 bytes: hyper alone would
    // refuse them with an empty 414), then another request, in one write:
    // the long one refused in JSON, the next answered.
    let address = api.base.trim_start_matches("http://");
    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    let requests = format!(
        "GET /search?q={} HTTP/1.1\r\nHost: a\r\n\r\n\
         GET /api/status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "%E6%B8%8B".repeat(10_000)
    );
    tokio::io::AsyncWriteExt::write_all(&mut connection, requests.as_bytes())
        .await
        .unwrap();
    let mut answers = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut connection, &mut answers),
    )
    .await
    .expect("both answered, then the connection closed")
    .unwrap();
    let answers = String::from_utf8_lossy(&answers);
    // Each status line, wherever it starts (a body has no line end).
    let statuses: Vec<&str> = answers
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| answers[at..].split("\r\n").next())
        .collect();
    assert_eq!(
        statuses,
        ["HTTP/1.1 400 Bad Request", "HTTP/1.1 200 OK"],
        "{answers}"
    );
    assert!(
        answers.contains(r#"{"error":"the request line is longer than"#),
        "{answers}"
    );
    api.stop().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let api = Api::start().await;
    let resp = api
        .client
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    // A family's name, which a counter's samples follow with `_total`.
    for name in [
        "pagefeed_projector_applied_seq",
        "pagefeed_projector_lag",
        "pagefeed_projector_events_applied",
        "pagefeed_projector_rejected",
        "pagefeed_projector_batch_commit_seconds",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}:\n{text}");
    }
    for line in [
        "pagefeed_projector_applied_seq{node=\"node-a\"} 8",
        "pagefeed_projector_lag{node=\"node-a\"} 2",
        "pagefeed_projector_events_applied_total{node=\"node-a\"} 8",
        "pagefeed_projector_rejected_total{node=\"node-a\"} 1",
        "pagefeed_projector_fetch_failures_total{node=\"node-a\",reason=\"http_status\"} 1",
        "pagefeed_projector_fetch_failures_total{node=\"node-a\",reason=\"expired\"} 0",
        "pagefeed_projector_batch_commit_seconds_sum{node=\"node-a\"} 0.005",
        "pagefeed_projector_batch_commit_seconds_count{node=\"node-a\"} 1",
        "# HELP pagefeed_projector_applied_seq Last stream sequence applied to the replica.",
        "# HELP pagefeed_projector_batch_commit_seconds Time to commit one batch of events.",
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
    api.stop().await;
}
