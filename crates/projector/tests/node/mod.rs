//! What the projector's scenario tests share: a fresh nats-server with the
//! streams, events to publish, a node run in-process until its file has
//! applied a sequence (progress read from the node's `/api/status`: one
//! process holds a redb file, and the status says what it has committed),
//! and a node that keeps running while a test does things around it,
//! watched through its real HTTP API.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use pagefeed_events::event::{EntryObserved, PageRecord};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::{Config, Event};
use pagefeed_projector::store::Store;
use pagefeed_projector::{store_path, Options};
use pagefeed_testkit::config::{config_text, config_with, id_site};
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::streams::jetstream_at;
use pagefeed_testkit::wait::wait_for;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use pagefeed_testkit::streams::events_last_seq as stream_last_seq;

/// The one site of the tests' config (`sample`, ids 1 to 9), which nothing
/// crawls: the tests publish the events.
fn quiet_site() -> String {
    id_site("sample", "http://127.0.0.1:9/{id}", 1, 9, 1, "1h")
}

/// A fresh nats-server with pagefeed's streams, for a config with
/// [`quiet_site`].
pub async fn with_streams() -> anyhow::Result<(NatsServer, Config, jetstream::Context)> {
    let nats = NatsServer::start().await?;
    let cfg = config_with(&nats.url(), "", "", &[quiet_site()]);
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    Ok((nats, cfg, js))
}

/// [`with_streams`], the config also written to `dir/pagefeed.toml` for the
/// binary's `--config`: (server, that path, config, JetStream).
pub async fn with_streams_and_config_file(
    dir: &Path,
) -> anyhow::Result<(NatsServer, PathBuf, Config, jetstream::Context)> {
    let nats = NatsServer::start().await?;
    let path = dir.join("pagefeed.toml");
    std::fs::write(&path, config_text(&nats.url(), "", "", &[quiet_site()]))?;
    let cfg = Config::load(&path)?;
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    Ok((nats, path, cfg, js))
}

/// Publishes two payloads no projector can apply, on events subjects: text
/// that is not JSON, and an event of schema version 999. Their sequences.
pub async fn publish_unreadable(js: &jetstream::Context) -> anyhow::Result<(u64, u64)> {
    let garbage = js
        .publish(
            "pagefeed.events.page_crawled.sample.7",
            "not json at all".into(),
        )
        .await?
        .await?
        .sequence;
    let newer = js
        .publish(
            "pagefeed.events.entry_observed.sample.7",
            r#"{"v":999,"type":"entry_observed","page":"sample.7"}"#.into(),
        )
        .await?
        .await?
        .sequence;
    Ok((garbage, newer))
}

/// A page's `entries` entry events, then its crawl.
pub fn page_events(page: u32, entries: u32) -> Vec<Event> {
    let key: pagefeed_events::PageKey = format!("sample.{page}").parse().expect("a page key");
    let at = "2026-11-24T03:00:00Z".parse().expect("a time");
    let mut events: Vec<Event> = (0..entries)
        .map(|n| {
            observed(
                &key,
                format!("{page:04}{n:04}"),
                format!("ページ{page}の日記{n}: 今日は渋谷へ"),
                at,
            )
        })
        .collect();
    events.push(Event::PageCrawled(PageRecord {
        page: key,
        url: format!("http://127.0.0.1:9/{page}"),
        title: format!("ユーザー{page}"),
        crawled_at: at,
        status: 200,
        entries,
    }));
    events
}

/// Runs node `name` on `data` until it has applied `seq`, then stops it.
pub async fn run_until_applied(
    cfg: &Config,
    data: &Path,
    name: &str,
    seq: u64,
) -> anyhow::Result<()> {
    let http = free_http()?;
    let token = CancellationToken::new();
    let node = tokio::spawn(pagefeed_projector::run(
        Options {
            cfg: cfg.clone(),
            data: data.to_owned(),
            node: name.to_owned(),
            http,
            idle: Duration::from_secs(3600),
            sync_every: pagefeed_projector::store::DEFAULT_SYNC_EVERY,
            api: pagefeed_projector::api::ApiOptions::default(),
        },
        token.clone(),
    ));
    wait_applied(&http_client(), http, seq, Duration::from_secs(60)).await?;
    token.cancel();
    node.await??;
    Ok(())
}

/// `GET /api/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub node: String,
    pub applied_seq: u64,
    pub stream_last_seq: u64,
    pub lag: u64,
    pub digest: String,
    pub pages: u64,
    pub entries: u64,
    pub rejected: u64,
}

/// A reqwest client (rustls needs its crypto provider chosen first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A free loopback address for a node's API.
pub fn free_http() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from((
        [127, 0, 0, 1],
        pagefeed_testkit::nats::free_port()?,
    )))
}

/// The status of the node listening on `http`; `None` while it does not
/// answer (not started yet, or gone).
pub async fn try_status(client: &reqwest::Client, http: SocketAddr) -> Option<Status> {
    let resp = client
        .get(format!("http://{http}/api/status"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// Waits until the node on `http` has applied `seq` and returns its status.
/// Polls every 200 ms.
pub async fn wait_applied(
    client: &reqwest::Client,
    http: SocketAddr,
    seq: u64,
    timeout: Duration,
) -> anyhow::Result<Status> {
    let deadline = Instant::now() + timeout;
    let mut seen = None;
    loop {
        if let Some(status) = try_status(client, http).await {
            if status.applied_seq >= seq {
                return Ok(status);
            }
            seen = Some(status);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "timed out after {timeout:?} waiting for the node on {http} to apply \
                 sequence {seq}; last status {seen:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A projector node running in-process with its API on a known port.
pub struct Node {
    pub name: String,
    pub data: PathBuf,
    pub http: SocketAddr,
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Node {
    /// Starts node `name` on `data`, connecting as `cfg.nats` says.
    pub fn start(cfg: &Config, data: &Path, name: &str) -> anyhow::Result<Node> {
        let http = free_http()?;
        let token = CancellationToken::new();
        let options = Options {
            cfg: cfg.clone(),
            data: data.to_owned(),
            node: name.to_owned(),
            http,
            idle: Duration::from_secs(3600),
            sync_every: pagefeed_projector::store::DEFAULT_SYNC_EVERY,
            api: pagefeed_projector::api::ApiOptions::default(),
        };
        let handle = tokio::spawn(pagefeed_projector::run(options, token.clone()));
        Ok(Node {
            name: name.to_owned(),
            data: data.to_owned(),
            http,
            token,
            handle,
        })
    }

    /// Its status, waiting for the API to answer.
    pub async fn status(&self, client: &reqwest::Client) -> anyhow::Result<Status> {
        wait_for(
            Duration::from_secs(20),
            &format!("node {} to answer on {}", self.name, self.http),
            || async { Ok(try_status(client, self.http).await) },
        )
        .await
    }

    pub async fn wait_applied(
        &self,
        client: &reqwest::Client,
        seq: u64,
        timeout: Duration,
    ) -> anyhow::Result<Status> {
        wait_applied(client, self.http, seq, timeout).await
    }

    /// Whether `run` is still going (it has not returned, with an error or
    /// otherwise).
    pub fn is_running(&self) -> bool {
        !self.handle.is_finished()
    }

    /// Stops the node, which commits its open batch, and returns the
    /// applied sequence and digest of its file.
    pub async fn stop(self) -> anyhow::Result<(u64, String)> {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .with_context(|| format!("node {} did not stop within 20 s", self.name))???;
        digest_of(&self.data)
            .await
            .with_context(|| format!("reading node {}'s file once it stopped", self.name))
    }
}

/// The applied sequence and digest of the redb file in `data` (whose node
/// has stopped: one process holds a file).
pub async fn digest_of(data: &Path) -> anyhow::Result<(u64, String)> {
    let path = store_path(data);
    Ok(tokio::task::spawn_blocking(move || Store::open(&path)?.digest()).await??)
}

/// Publishes `events` (awaiting every ack, retrying through disconnects)
/// and returns the stream's last sequence after them.
pub async fn publish(js: &async_nats::jetstream::Context, events: &[Event]) -> anyhow::Result<u64> {
    let msgs: Vec<Outgoing> = events.iter().map(Outgoing::from).collect();
    publish_all(js, &msgs, &CancellationToken::new()).await?;
    stream_last_seq(js).await
}

/// `n` small entry events of page `sample.<page>`, ids `<page>-<first + i>`:
/// all distinct, so each one adds an entry.
pub fn entries(page: u32, first: u32, n: u32) -> Vec<Event> {
    let key: pagefeed_events::PageKey = format!("sample.{page}").parse().expect("a page key");
    let at = "2026-11-24T03:00:00Z".parse().expect("a time");
    (first..first + n)
        .map(|i| {
            observed(
                &key,
                format!("{page}-{i}"),
                format!("日記{i}: 今日は渋谷へ"),
                at,
            )
        })
        .collect()
}

/// An entry of `page` with no timestamp or link of its own.
fn observed(
    page: &pagefeed_events::PageKey,
    id: String,
    text: String,
    at: chrono::DateTime<chrono::Utc>,
) -> Event {
    Event::EntryObserved(EntryObserved {
        page: page.clone(),
        id,
        text,
        timestamp: None,
        link: None,
        observed_at: at,
    })
}
