//! `pagefeed-bench web`: how long the web view's pages take on a node
//! holding many pages, against the JSON reads they are made of. The store
//! is filled in-process (the sample site's entries, 20 a page; one page in
//! seven failing), the API served in-process on loopback, and each page
//! asked for in turn over HTTP.

use std::sync::Arc;
use std::time::Instant;

use pagefeed_events::event::{Event, FetchFailed, PageRecord};
use pagefeed_events::publish::Outgoing;
use pagefeed_projector::api::{ApiOptions, ApiState, Live};
use pagefeed_projector::store::{Logged, Store};
use tokio_util::sync::CancellationToken;

use crate::procs::Machine;
use crate::projector::entry_events;
use crate::report::{heading, ms, percentiles, verdict, Figures, Limit};

/// `pagefeed-bench web` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Pages in the store (20 entries each).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub pages: u64,
    /// Requests of each page, one after another.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub requests: usize,
}

/// The longest the overview may take (p99): it reads up to 10,000 pages.
const OVERVIEW_P99_MS: f64 = 250.0;
/// The longest any other page may take (p99).
const PAGE_P99_MS: f64 = 50.0;

/// Fills a store, serves it, times each page, prints the report.
pub async fn run(options: Options, machine: Machine) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("pagefeed-bench-web-")
        .tempdir()?;
    let store = Store::open(&dir.path().join("pagefeed.redb"))?;
    let started = Instant::now();
    let events = fill(&store, options.pages)?;
    eprintln!(
        "applied {events} events for {} pages in {:.1} s",
        options.pages,
        started.elapsed().as_secs_f64()
    );
    let live = Arc::new(Live::new("bench"));
    live.publish(&store)?;
    let state = ApiState::new(Arc::new(store), live, ApiOptions::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(pagefeed_projector::api::serve(
        listener,
        state,
        shutdown.clone(),
    ));

    let middle = options.pages / 2 + 1;
    let search = "q=%E6%B8%8B%E8%B0%B7"; // 渋谷
    let paths: [(String, &str, f64); 6] = [
        ("/".into(), "the overview", OVERVIEW_P99_MS),
        ("/pages".into(), "all pages, first window", PAGE_P99_MS),
        (
            format!("/pages/sample.{middle}"),
            "a page and its newest entries",
            PAGE_P99_MS,
        ),
        (format!("/search?{search}"), "a search", PAGE_P99_MS),
        (
            format!("/api/pages/sample.{middle}/entries?limit=10"),
            "(JSON) a page's newest entries",
            PAGE_P99_MS,
        ),
        (
            format!("/api/entries?{search}&limit=10"),
            "(JSON) a search",
            PAGE_P99_MS,
        ),
    ];
    let client = pagefeed_testkit::projector_api::http_client();
    let mut figures = Figures::echoing();
    for (path, what, limit_ms) in paths {
        let mut times = Vec::with_capacity(options.requests);
        let mut bytes = 0;
        for _ in 0..options.requests.max(1) {
            let t = Instant::now();
            let answer = client.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(answer.status().is_success(), "{path}: {}", answer.status());
            bytes = answer.bytes().await?.len();
            times.push(t.elapsed());
        }
        let (p50, p99) = percentiles(&mut times);
        figures.row(
            format!("{what} (`{path}`), p50 / p99"),
            format!("{} / {} ({} KB)", ms(p50), ms(p99), bytes / 1000),
            format!("p99 < {limit_ms} ms"),
            verdict(p99.as_secs_f64() * 1000.0, Limit::Below(limit_ms)),
        );
    }
    shutdown.cancel();
    server.await??;
    println!(
        "{}",
        heading(
            "web view",
            &machine,
            &format!(
                "{} pages, {} requests of each, one at a time",
                options.pages, options.requests
            )
        )
    );
    println!("{}", figures.render());
    Ok(())
}

/// Applies the entries of `pages` pages, each page's crawl (or, one page
/// in seven, its failure); returns how many events.
fn fill(store: &Store, pages: u64) -> anyhow::Result<usize> {
    let now = chrono::Utc::now();
    let mut payloads: Vec<Outgoing> = entry_events(usize::try_from(pages)? * 20, 0);
    for id in 1..=pages {
        let page = format!("sample.{id}").parse()?;
        let url = format!("http://127.0.0.1:8700/recent_page_feed?page_id={id}");
        let event = if id % 7 == 0 {
            Event::FetchFailed(FetchFailed {
                page,
                url,
                failed_at: now,
                reason: "http_status".into(),
                detail: "500 Internal Server Error".into(),
                status: Some(500),
                attempts: 3,
            })
        } else {
            Event::PageCrawled(PageRecord {
                page,
                url,
                title: format!("ユーザー{id}さんの最近の日記"),
                crawled_at: now,
                status: 200,
                entries: 20,
            })
        };
        payloads.push(Outgoing::from(&event));
    }
    for (n, chunk) in payloads
        .chunks(pagefeed_projector::batch::MAX_BATCH)
        .enumerate()
    {
        let first = n * pagefeed_projector::batch::MAX_BATCH;
        let batch: Vec<Logged> = chunk
            .iter()
            .zip(first + 1..)
            .map(|(m, seq)| Logged {
                seq: seq as u64,
                published: now + chrono::TimeDelta::seconds(1),
                payload: &m.payload,
            })
            .collect();
        store.apply_batch(&batch)?;
    }
    Ok(payloads.len())
}
