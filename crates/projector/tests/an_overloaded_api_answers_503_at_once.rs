//! More searches than the API admits at once are refused at once with 503
//! (and `Retry-After`), not queued, while the status still answers; a read
//! that outlasts the request timeout is answered 503 when it runs out.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use pagefeed_events::Event;
use pagefeed_projector::api::{ApiOptions, ApiState, Live};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

/// Every bigram of it is in every text; no text holds it whole.
const WORST_QUERY: &str = "%E4%BB%8A%E6%97%A5%E6%B8%8B%E8%B0%B7"; // 今日渋谷

struct Api {
    base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// 20,000 entries that share the worst query's bigrams, and searches with
/// no work budget: each one checks all of them.
async fn start(options: ApiOptions) -> Api {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (dir, store) = fresh();
    let events: Vec<Event> = (0..20_000)
        .map(|n| {
            entry(
                &format!("sample.{}", n % 200),
                &format!("e{n}"),
                &format!("日記{n}: 今日は渋谷へ、昨日渋谷で"),
                Some(&format!("2026-10-{:02}T00:00:00Z", 1 + n % 28)),
                "2026-11-01T00:00:00Z",
            )
        })
        .collect();
    apply(&store, &numbered(1, &events));
    let live = Arc::new(Live::new("a"));
    live.publish(&store).unwrap();
    let options = ApiOptions {
        search_budget: pagefeed_projector::store::SearchBudget::unlimited(),
        ..options
    };
    let state = ApiState::new(Arc::new(store), live, options).unwrap();
    let (base, shutdown, _server) = serve_api(state).await;
    Api {
        base,
        shutdown,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_past_the_limit_get_503_at_once_and_status_still_answers() {
    let api = start(ApiOptions {
        read_threads: 1,
        heavy_requests: 2,
        timeout: Duration::from_secs(60),
        ..ApiOptions::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/entries?q={WORST_QUERY}", api.base);
    let searches: Vec<_> = (0..12)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let resp = client.get(&url).send().await.unwrap();
                let retry_after = resp.headers().get("retry-after").cloned();
                let status = resp.status();
                let body = resp.text().await.unwrap();
                (status, retry_after, body, started.elapsed())
            })
        })
        .collect();
    // The status answers while the searches hold every admitted slot.
    let status = client
        .get(format!("{}/api/status", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);

    let mut answered = Vec::new();
    let mut shed = Vec::new();
    for s in searches {
        let (status, retry_after, body, took) = s.await.unwrap();
        match status {
            StatusCode::OK => answered.push(took),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(body.contains("too many requests"), "{body}");
                assert_eq!(retry_after.unwrap(), "1");
                shed.push(took);
            }
            other => panic!("{other}: {body}"),
        }
    }
    answered.sort();
    shed.sort();
    eprintln!("answered after {answered:?}; shed after {shed:?}");
    assert!(!answered.is_empty() && answered.len() <= 11);
    assert!(!shed.is_empty(), "12 searches at once, 2 admitted");
    // Refused at once: sooner than a search takes, rather than queued.
    assert!(
        shed[0] < answered[0],
        "the first refusal ({:?}) came after the first answer ({:?})",
        shed[0],
        answered[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_past_the_timeout_is_answered_503() {
    let api = start(ApiOptions {
        read_threads: 1,
        timeout: Duration::from_millis(20),
        ..ApiOptions::default()
    })
    .await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let resp = client
        .get(format!("{}/api/entries?q={WORST_QUERY}", api.base))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = resp.text().await.unwrap();
    assert!(body.contains("took too long"), "{body}");
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    let resp = client
        .get(format!("{}/api/status", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
