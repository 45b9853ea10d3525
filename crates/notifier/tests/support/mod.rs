//! What the notifier's scenarios share: a receiver on 127.0.0.1 that
//! records every request and answers as the scenario says, entry events to
//! publish, the notifier as a real process, and its `/status`.

#![allow(dead_code)] // each scenario uses its own part

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::Router;
use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_testkit::config::id_site;
use pagefeed_testkit::nats::free_port;
use pagefeed_testkit::process::ServiceCommand;
use pagefeed_testkit::services::Services;
use pagefeed_testkit::wait::wait_for;
use tokio_util::sync::CancellationToken;

pub const NOTIFIER: &str = env!("CARGO_BIN_EXE_pagefeed-notifier");

/// How long a scenario waits for deliveries.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One request as a receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// The status it was answered with (`None`: held, never answered).
    pub answered: Option<u16>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn key(&self) -> &str {
        self.header("idempotency-key").unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// What a receiver does with the `n`-th request (0-based) of key `key`.
pub enum Answer {
    Status(u16),
    /// This status, after a pause.
    After(Duration, u16),
    /// 429 with `Retry-After` in seconds.
    TooMany(u64),
    /// Never answers (the request stays open until the client goes).
    Hold,
}

type Decide = dyn Fn(&str, usize) -> Answer + Send + Sync;

/// An HTTP receiver on 127.0.0.1, recording every request.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn ok() -> anyhow::Result<Receiver> {
        Receiver::start(|_, _| Answer::Status(200)).await
    }

    /// Answers as `decide` says, given the request's idempotency key and
    /// how many requests of that key came before it.
    pub async fn start(
        decide: impl Fn(&str, usize) -> Answer + Send + Sync + 'static,
    ) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}/hook/s3cret-path", listener.local_addr()?);
        let got: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
        let decide: Arc<Decide> = Arc::new(decide);
        let recorded = got.clone();
        let app = Router::new().fallback(move |req: Request| {
            let (got, decide) = (recorded.clone(), decide.clone());
            let fut: Pin<Box<dyn Future<Output = axum::response::Response> + Send>> =
                Box::pin(async move {
                    let (parts, body) = req.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20)
                        .await
                        .unwrap_or_default();
                    let headers: HashMap<String, String> = parts
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect();
                    let key = headers.get("idempotency-key").cloned().unwrap_or_default();
                    let (index, answer) = {
                        let mut got = got.lock().unwrap();
                        let before = got.iter().filter(|r| r.key() == key).count();
                        let answer = decide(&key, before);
                        got.push(Received {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            headers,
                            body,
                            answered: None,
                            at: std::time::Instant::now(),
                        });
                        (got.len() - 1, answer)
                    };
                    let answer = match answer {
                        Answer::After(pause, code) => {
                            tokio::time::sleep(pause).await;
                            Answer::Status(code)
                        }
                        other => other,
                    };
                    use axum::response::IntoResponse as _;
                    match answer {
                        Answer::Status(code) => {
                            got.lock().unwrap()[index].answered = Some(code);
                            StatusCode::from_u16(code)
                                .unwrap_or(StatusCode::OK)
                                .into_response()
                        }
                        Answer::TooMany(secs) => {
                            got.lock().unwrap()[index].answered = Some(429);
                            let retry_after = [(axum::http::header::RETRY_AFTER, secs.to_string())];
                            (StatusCode::TOO_MANY_REQUESTS, retry_after).into_response()
                        }
                        Answer::Hold | Answer::After(..) => std::future::pending().await,
                    }
                });
            fut
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await
        });
        Ok(Receiver { url, got, stop })
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The keys answered 2xx so far, each once.
    pub fn delivered_keys(&self) -> std::collections::BTreeSet<String> {
        self.received()
            .iter()
            .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
            .map(|r| r.key().to_owned())
            .collect()
    }

    /// Waits until every key of `keys` has been answered 2xx.
    pub async fn wait_delivered(&self, keys: &[String], within: Duration) -> anyhow::Result<()> {
        wait_for(within, "every entry delivered", || async {
            let got = self.delivered_keys();
            Ok(keys.iter().all(|k| got.contains(k)).then_some(()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}: got {:?}", self.delivered_keys()))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A new entry of page `sample.<page>` (not of a first crawl).
pub fn entry(page: u64, n: u64) -> Event {
    Event::EntryObserved(EntryObserved {
        page: format!("sample.{page}").parse().expect("a page key"),
        id: format!("e{page}x{n}"),
        text: format!("entry {n} of page {page}: 渋谷でラーメン"),
        timestamp: None,
        link: Some(format!("http://127.0.0.1:9/view?page={page}&entry={n}")),
        observed_at: chrono::Utc::now(),
        first_crawl: false,
    })
}

/// The idempotency keys of `events` (their message ids).
pub fn keys(events: &[Event]) -> Vec<String> {
    events.iter().map(Event::msg_id).collect()
}

/// A config with the `sample` site (never crawled here) and `extra`
/// (`[notifier]`, `[[notify]]` tables).
pub fn config(nats_url: &str, extra: &str) -> String {
    format!(
        "[nats]\nurl = \"{nats_url}\"\n\n{}\n{extra}\n",
        id_site(
            "sample",
            "http://127.0.0.1:9/recent?page_id={id}",
            1,
            500,
            1,
            "1h"
        )
    )
}

/// A `[[notify]]` webhook table.
pub fn webhook(name: &str, url: &str) -> String {
    format!("[[notify]]\nname = \"{name}\"\nwebhook = \"{url}\"\n")
}

/// Quick hand-overs: a killed notifier's deliveries go to another after 2 s.
pub const QUICK: &str = "[notifier]\nack_wait = \"2s\"\ntimeout = \"30s\"\nretry_max = \"2s\"\n";

/// Starts a notifier process (`notifier-<n>`) on the handle's config with
/// its `/status` on a free port; returns its status URL.
pub fn start_notifier(system: &mut Services, name: &str, args: &[&str]) -> anyhow::Result<String> {
    let status = format!("http://127.0.0.1:{}/status", free_port()?);
    let http = status
        .trim_start_matches("http://")
        .trim_end_matches("/status")
        .to_owned();
    system.spawn(
        ServiceCommand::new(name, NOTIFIER)
            .arg("--config")
            .arg(system.config_path())
            .args(["--http", &http])
            .args(args)
            .ready_when_answers(status.clone()),
    )?;
    Ok(status)
}

/// `/status` of a notifier.
pub async fn status(url: &str) -> Option<serde_json::Value> {
    let client = pagefeed_testkit::projector_api::http_client();
    let resp = client
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

/// Waits until the notifier at `url` follows every destination.
pub async fn wait_following(url: &str) -> anyhow::Result<serde_json::Value> {
    wait_for(
        PATIENCE,
        "the notifier to follow every destination",
        || async {
            let Some(status) = status(url).await else {
                return Ok(None);
            };
            let all = status["destinations"]
                .as_array()
                .is_some_and(|d| d.iter().all(|d| d["following"] == true));
            Ok(all.then_some(status))
        },
    )
    .await
}

/// The figure of `destination` named `field` in `/status`.
pub fn figure(status: &serde_json::Value, destination: &str, field: &str) -> u64 {
    status["destinations"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == destination))
        .and_then(|d| d[field].as_u64())
        .unwrap_or(0)
}
