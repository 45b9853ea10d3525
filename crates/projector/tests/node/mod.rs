//! What the projector's scenario tests share: a fresh nats-server with the
//! streams (alone, or under a `Services` handle that runs the binary), events
//! to publish, a node run in-process until its file has applied a sequence
//! (progress read from the node's `/api/status`: one process holds a redb
//! file, and the status says what it has committed), and a node that keeps
//! running while a test does things around it, watched through its real
//! HTTP API.
#![allow(dead_code, unused_imports)] // each scenario uses its own part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use pagefeed_events::event::{EntryObserved, PageRecord};
use pagefeed_events::{Config, Event};
use pagefeed_projector::store::Store;
use pagefeed_projector::{store_path, Options};
use pagefeed_testkit::config::{config_text, config_with, id_site};
use pagefeed_testkit::in_process::Running;
use pagefeed_testkit::nats::NatsServer;
use pagefeed_testkit::sample_site::{SampleSite, SampleSiteOptions};
use pagefeed_testkit::services::Services;
use pagefeed_testkit::streams::jetstream_at;
use pagefeed_testkit::wait::wait_for;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use pagefeed_testkit::projector_api::{
    free_http, http_client, try_status, wait_applied, Status,
};
pub use pagefeed_testkit::streams::{
    events_last_seq as stream_last_seq, publish_events as publish,
};

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

/// A [`Services`] handle (its nats-server's config with `nats_extra`
/// lines) whose config file has [`quiet_site`], with pagefeed's streams:
/// (handle, config, JetStream). Its projectors are the binary, `bin`.
pub async fn with_services(
    nats_extra: &str,
) -> anyhow::Result<(Services, Config, jetstream::Context)> {
    let services = Services::start_with(nats_extra).await?;
    let cfg = services.write_config(&config_text(&services.nats_url(), "", "", &[quiet_site()]))?;
    let js = services.jetstream().await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    Ok((services, cfg, js))
}

/// The projector binary these tests run.
pub const BIN: &str = env!("CARGO_BIN_EXE_pagefeed-projector");

/// A fresh nats-server with the streams and the sample site in-process,
/// for a config whose fetchers crawl it (one attempt per task).
pub async fn with_sample_site(
) -> anyhow::Result<(NatsServer, SampleSite, Config, jetstream::Context)> {
    let nats = NatsServer::start().await?;
    let site = SampleSite::start("127.0.0.1:0".parse()?, SampleSiteOptions::default()).await?;
    let cfg = config_with(
        &nats.url(),
        "",
        "[fetcher]\nmax_attempts = 1\n",
        &[id_site("sample", &site.url_template(), 1, 500, 1, "1h")],
    );
    let js = jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    Ok((nats, site, cfg, js))
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
    let node = Node::start(cfg, data, name)?;
    node.wait_applied(&http_client(), seq, Duration::from_secs(60))
        .await?;
    node.stop().await?;
    Ok(())
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
            summary_every: Duration::ZERO,
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
        first_crawl: false,
    })
}

/// A fetcher crawling in-process with 8 fetches in flight, until stopped.
pub fn spawn_fetcher(cfg: &Config) -> Running {
    let cfg = cfg.clone();
    Running::spawn(|token| {
        pagefeed_fetcher::run(
            pagefeed_fetcher::Options {
                cfg,
                concurrency: Some(8),
            },
            token,
        )
    })
}
