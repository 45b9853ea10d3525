//! The projector benchmark (docs/BENCHMARKS.md, "Projector"), one run:
//!
//! 1. live replication: two projector processes run while N realistic
//!    `entry_observed` events (the sample site's texts) are published as
//!    fast as JetStream acks them; entries/s until each node has them all;
//! 2. keyword search latency over those entries, on one node's HTTP API;
//! 3. end-to-end lag at a steady rate: publish to visible in `/api/status`
//!    of both nodes;
//! 4. the raw read rate of the stream with an ordered consumer (no apply):
//!    the limit;
//! 5. `pagefeed-projector rebuild` of the same stream, its rate against the
//!    limit and its peak memory;
//! 6. the split of the apply cost: the same payloads applied in-process to
//!    a fresh file with and without the search index.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt as _;
use pagefeed_events::event::{EntryObserved, Event};
use pagefeed_events::publish::{publish_all, Outgoing};
use pagefeed_events::streams::events_replay;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_events::Config;
use pagefeed_projector::store::{Logged, Store};
use pagefeed_testkit::nats::{free_port, NatsServer};
use pagefeed_testkit::sample_site::{expected_entries, SampleSiteOptions};
use tokio_util::sync::CancellationToken;

use crate::procs::{peak_rss_kib, Binaries, Child, Machine};

/// Messages per `publish_all` call, and calls in flight: together under
/// async-nats's 5,000 acks in flight per context, or sends wait on acks that
/// are only awaited after the sends (a deadlock).
const PUBLISH_CHUNK: usize = 1_000;
const PUBLISH_CHUNKS_IN_FLIGHT: usize = 4;
/// Events per transaction in the in-process apply split (as `rebuild`).
const APPLY_BATCH: usize = 10_000;

/// `pagefeed-bench projector` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Entry events published for the replication, search and rebuild runs.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub events: usize,
    /// Searches timed.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub searches: usize,
    /// Events per second of the lag run.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub lag_rate: u64,
    /// Seconds of the lag run.
    #[arg(long, default_value_t = 20, value_name = "S")]
    pub lag_seconds: u64,
    /// Stop after live replication (publishing alone, then with two nodes).
    #[arg(long)]
    pub live_only: bool,
}

/// Node `a` and `b`: two projector processes with their HTTP ports.
struct Node {
    child: Child,
    http: String,
}

/// Runs everything and prints the report.
pub async fn run(options: Options, machine: Machine) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bins = Binaries::locate()?;
    let dir = tempfile::Builder::new()
        .prefix("pagefeed-bench-projector-")
        .tempdir()?;
    let nats = NatsServer::start().await?;
    let config = dir.path().join("pagefeed.toml");
    std::fs::write(
        &config,
        pagefeed_testkit::config::config_text(
            &nats.url(),
            "",
            "",
            &[pagefeed_testkit::config::id_site(
                "sample",
                "http://127.0.0.1:9/{id}",
                1,
                1_000_000,
                100,
                "1h",
            )],
        ),
    )?;
    let cfg = Config::load(&config)?;
    let js = pagefeed_testkit::streams::jetstream_at(&nats.url()).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;
    let http = reqwest::Client::new();
    let mut out = Report::new(&machine, &options);

    eprintln!("generating {} entry events ...", options.events);
    let messages = entry_events(options.events, 0);

    // 0. The limit of live replication: publishing alone, no node running.
    eprintln!(
        "publishing {} events with no node running ...",
        messages.len()
    );
    let alone = publish(&js, &messages).await?;
    let alone_rate = messages.len() as f64 / alone.as_secs_f64();
    out.row(
        "publish alone, no node running (the limit of live replication)",
        format!("{alone_rate:.0} events/s ({:.1} s)", alone.as_secs_f64()),
        "—",
        String::new(),
    );
    js.delete_stream(EVENTS_STREAM).await?;
    pagefeed_events::streams::ensure_streams(&js, &cfg).await?;

    // 1. Live replication.
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        nodes.push(start_node(&bins, &config, dir.path(), name)?);
    }
    for node in &nodes {
        wait_status(&http, &node.http, Duration::from_secs(30)).await?;
    }
    eprintln!(
        "publishing {} events with nodes a and b running ...",
        messages.len()
    );
    let started = Instant::now();
    let publish_time = publish(&js, &messages).await?;
    let last = pagefeed_testkit::streams::events_last_seq(&js).await?;
    let mut visible = Vec::new();
    for node in &nodes {
        let at = wait_applied(&http, &node.http, last, Duration::from_secs(1800)).await?;
        visible.push(at.duration_since(started));
    }
    let n = messages.len() as f64;
    out.row(
        "publish (JetStream acked)",
        format!("{:.0} events/s", n / publish_time.as_secs_f64()),
        "—",
        String::new(),
    );
    for (node, t) in ["a", "b"].iter().zip(&visible) {
        let rate = n / t.as_secs_f64();
        out.row(
            &format!("live replication, node {node} (publish start → all applied)"),
            format!(
                "{rate:.0} entries/s ({:.1} s, {:.2} of publishing alone)",
                t.as_secs_f64(),
                rate / alone_rate
            ),
            "≥ 58,000/s",
            verdict(rate >= 58_000.0),
        );
    }
    for (name, node) in ["a", "b"].iter().zip(&nodes) {
        let (seconds, batches, events) = commits(&http, &node.http).await?;
        out.row(
            &format!("node {name}'s batches during live replication"),
            format!(
                "{batches:.0}, {:.0} events and {:.1} ms each on average",
                events / batches.max(1.0),
                seconds / batches.max(1.0) * 1000.0
            ),
            "—",
            String::new(),
        );
        let status = get_json(&http, &format!("{}/api/status", node.http)).await?;
        anyhow::ensure!(
            status["entries"].as_u64() == Some(messages.len() as u64),
            "node status: {status}"
        );
    }

    if options.live_only {
        stop_nodes(nodes, &mut out)?;
        print!("{}", out.render());
        return Ok(());
    }

    // 2. Search.
    eprintln!("timing {} searches ...", options.searches);
    let queries = queries(&messages, options.searches);
    let mut latencies = Vec::with_capacity(queries.len());
    let mut hits = 0usize;
    for q in &queries {
        let t = Instant::now();
        let body = get_json(
            &http,
            &format!("{}/api/entries?q={}&limit=20", nodes[0].http, encode(q)),
        )
        .await?;
        latencies.push(t.elapsed());
        hits += body["entries"].as_array().map_or(0, Vec::len);
    }
    let (p50, p99) = percentiles(&mut latencies);
    out.row(
        &format!(
            "keyword search over {} entries, limit 20 ({} queries of 1–4 chars from the texts, {:.1} hits each)",
            messages.len(),
            queries.len(),
            hits as f64 / queries.len().max(1) as f64
        ),
        format!("p50 {} / p99 {}", ms(p50), ms(p99)),
        "p50 < 10 ms",
        verdict(p50 < Duration::from_millis(10)),
    );

    // 3. Lag at a steady rate.
    eprintln!(
        "lag at {} events/s for {} s ...",
        options.lag_rate, options.lag_seconds
    );
    let before = commits(&http, &nodes[0].http).await?;
    let lag = lag_run(&js, &http, &nodes, &options).await?;
    let after = commits(&http, &nodes[0].http).await?;
    let mut all: Vec<Duration> = lag.clone();
    let (p50, p99) = percentiles(&mut all);
    out.row(
        &format!(
            "end-to-end lag at {} events/s, publish → visible on both nodes ({} events)",
            options.lag_rate,
            lag.len()
        ),
        format!("p50 {} / p99 {}", ms(p50), ms(p99)),
        "p99 < 100 ms",
        verdict(p99 < Duration::from_millis(100)),
    );
    let batches = (after.1 - before.1).max(1.0);
    out.row(
        "node a's commits during the lag run",
        format!(
            "{batches:.0} batches, {:.1} events and {:.1} ms each on average",
            (after.2 - before.2) / batches,
            (after.0 - before.0) / batches * 1000.0
        ),
        "—",
        String::new(),
    );
    stop_nodes(nodes, &mut out)?;

    // 4. Raw read.
    let last = pagefeed_testkit::streams::events_last_seq(&js).await?;
    eprintln!("reading {last} events with an ordered consumer ...");
    let (read_time, payloads) = raw_read(&js, last).await?;
    let raw_rate = last as f64 / read_time.as_secs_f64();
    out.row(
        "raw ordered-consumer read, no apply (the limit)",
        format!("{raw_rate:.0} events/s ({:.1} s)", read_time.as_secs_f64()),
        "—",
        String::new(),
    );

    // 5. Rebuild.
    eprintln!("rebuilding node r ...");
    let (rebuild_time, rebuild_rss) = rebuild(&bins, &config, &dir.path().join("r")).await?;
    let rebuild_rate = last as f64 / rebuild_time.as_secs_f64();
    out.row(
        "`pagefeed-projector rebuild` (process start → exit)",
        format!(
            "{rebuild_rate:.0} events/s ({:.1} s)",
            rebuild_time.as_secs_f64()
        ),
        "—",
        String::new(),
    );
    out.row(
        "rebuild / raw read",
        format!("{:.2}", rebuild_rate / raw_rate),
        "≥ 0.5",
        verdict(rebuild_rate / raw_rate >= 0.5),
    );
    out.row(
        "rebuild peak RSS",
        mb(rebuild_rss),
        "< 200 MB",
        verdict(rebuild_rss * 1024 < 200_000_000),
    );

    // 6. The apply split, in this process, no NATS.
    for (label, index) in [("with", true), ("without", false)] {
        eprintln!("applying in-process {label} the search index ...");
        let t = apply_in_process(
            &payloads,
            &dir.path().join(format!("apply-{label}")),
            index,
            APPLY_BATCH,
        )?;
        let rate = payloads.len() as f64 / t.as_secs_f64();
        out.row(
            &format!("apply only, in-process, {label} the search index"),
            format!("{rate:.0} events/s ({:.1} s)", t.as_secs_f64()),
            "—",
            format!("{:.2} of the raw read", rate / raw_rate),
        );
    }
    print!("{}", out.render());
    Ok(())
}

/// Publishes `messages` as fast as JetStream acks them, [`PUBLISH_CHUNK`]
/// per `publish_all` call with [`PUBLISH_CHUNKS_IN_FLIGHT`] calls in flight,
/// and checks that the stream ends at the last ack; the time taken.
async fn publish(js: &jetstream::Context, messages: &[Outgoing]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let published = futures::stream::iter(messages.chunks(PUBLISH_CHUNK))
        .map(|chunk| publish_all(js, chunk, &cancel))
        .buffer_unordered(PUBLISH_CHUNKS_IN_FLIGHT)
        .fold(Ok(0u64), |acc: anyhow::Result<u64>, r| async move {
            let acks = r?;
            Ok(acc?.max(acks.iter().map(|a| a.sequence).max().unwrap_or(0)))
        })
        .await?;
    let took = started.elapsed();
    let last = pagefeed_testkit::streams::events_last_seq(js).await?;
    anyhow::ensure!(
        published == last,
        "published up to {published}, stream at {last}"
    );
    Ok(took)
}

/// `count` realistic entry events: the sample site's pages, 20 entries each,
/// from page `first_page + 1` on.
pub fn entry_events(count: usize, first_page: u64) -> Vec<Outgoing> {
    let opts = SampleSiteOptions::default();
    let now = chrono::Utc::now();
    let mut out = Vec::with_capacity(count);
    for id in first_page + 1.. {
        for e in expected_entries(id, now.timestamp(), &opts) {
            if out.len() >= count {
                return out;
            }
            let Ok(page) = format!("sample.{id}").parse() else {
                continue;
            };
            let event = Event::EntryObserved(EntryObserved {
                page,
                id: e.index.to_string(),
                text: e.text,
                timestamp: chrono::DateTime::from_timestamp(e.posted_at, 0),
                link: Some(format!("http://127.0.0.1:8700{}", e.href)),
                observed_at: now,
            });
            out.push(Outgoing::from(&event));
        }
    }
    out
}

/// Stops the live nodes, reporting their peak RSS.
fn stop_nodes(nodes: Vec<Node>, out: &mut Report) -> anyhow::Result<()> {
    let mut rss = Vec::new();
    for mut node in nodes {
        rss.push(peak_rss_kib(node.child.pid()).unwrap_or(0));
        node.child.terminate(Duration::from_secs(30))?;
    }
    out.row(
        "peak RSS of the live nodes a / b",
        format!("{} / {}", mb(rss[0]), mb(rss[1])),
        "< 200 MB",
        verdict(rss.iter().all(|&k| k * 1024 < 200_000_000)),
    );
    Ok(())
}

fn start_node(bins: &Binaries, config: &Path, dir: &Path, name: &str) -> anyhow::Result<Node> {
    let port = free_port()?;
    let mut cmd = Command::new(&bins.projector);
    cmd.arg("--config")
        .arg(config)
        .arg("--data")
        .arg(dir.join(name))
        .args(["--node", name, "--http", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn");
    let child = Child::spawn(
        &format!("projector {name}"),
        cmd,
        dir.join(format!("{name}.log")),
        false,
    )?;
    Ok(Node {
        child,
        http: format!("http://127.0.0.1:{port}"),
    })
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<serde_json::Value> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status} {body}");
    Ok(body)
}

async fn wait_status(http: &reqwest::Client, node: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while get_json(http, &format!("{node}/api/status")).await.is_err() {
        if Instant::now() > deadline {
            bail!("{node} did not answer within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn applied(http: &reqwest::Client, node: &str) -> anyhow::Result<u64> {
    let status = get_json(http, &format!("{node}/api/status")).await?;
    status["applied_seq"]
        .as_u64()
        .with_context(|| format!("no applied_seq in {status}"))
}

/// When the node has applied `seq` (polled every 10 ms).
async fn wait_applied(
    http: &reqwest::Client,
    node: &str,
    seq: u64,
    within: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + within;
    loop {
        if applied(http, node).await? >= seq {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{node} did not apply {seq} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// (commit seconds, commits, events applied) from a node's `/metrics`.
async fn commits(http: &reqwest::Client, node: &str) -> anyhow::Result<(f64, f64, f64)> {
    let text = http
        .get(format!("{node}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("pagefeed_projector_batch_commit_seconds_sum"),
        value("pagefeed_projector_batch_commit_seconds_count"),
        value("pagefeed_projector_events_applied_total"),
    ))
}

/// Search terms: 1 to 4 characters cut from the texts, spread over them.
fn queries(messages: &[Outgoing], count: usize) -> Vec<String> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*: a fixed, reproducible spread.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut out = Vec::with_capacity(count);
    while out.len() < count && !messages.is_empty() {
        let m = &messages[(next() % messages.len() as u64) as usize];
        let Ok(Event::EntryObserved(e)) = Event::decode(&m.payload) else {
            continue;
        };
        let chars: Vec<char> = e.text.chars().collect();
        let len = 1 + (next() % 4) as usize;
        if chars.len() < len {
            continue;
        }
        let start = (next() % (chars.len() - len + 1) as u64) as usize;
        let q: String = chars[start..start + len].iter().collect();
        if !q.trim().is_empty() {
            out.push(q);
        }
    }
    out
}

/// Percent-encodes a query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Publishes at `lag_rate` for `lag_seconds` while polling both nodes'
/// applied sequence; returns each event's publish → visible-on-both time.
async fn lag_run(
    js: &jetstream::Context,
    http: &reqwest::Client,
    nodes: &[Node],
    options: &Options,
) -> anyhow::Result<Vec<Duration>> {
    let count = (options.lag_rate * options.lag_seconds) as usize;
    let messages = entry_events(count, 1_000_000);
    let done = CancellationToken::new();
    // (instant, min applied of the two nodes), as fast as they answer.
    let poller = {
        let (http, done) = (http.clone(), done.clone());
        let urls: Vec<String> = nodes.iter().map(|n| n.http.clone()).collect();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.is_cancelled() {
                let mut low = u64::MAX;
                for url in &urls {
                    low = low.min(applied(&http, url).await?);
                }
                seen.push((Instant::now(), low));
            }
            Ok::<_, anyhow::Error>(seen)
        })
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / options.lag_rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut acks = Vec::with_capacity(count);
    for m in &messages {
        tick.tick().await;
        let sent = Instant::now();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", m.msg_id.as_str());
        let ack = js
            .publish_with_headers(m.subject.clone(), headers, m.payload.clone())
            .await?;
        acks.push(tokio::spawn(async move {
            ack.await.map(|a| (sent, a.sequence))
        }));
    }
    let mut sent = Vec::with_capacity(count);
    for ack in acks {
        sent.push(ack.await??);
    }
    let last = sent.iter().map(|(_, s)| *s).max().unwrap_or(0);
    for node in nodes {
        wait_applied(http, &node.http, last, Duration::from_secs(60)).await?;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    done.cancel();
    let seen = poller.await??;
    let mut lags = Vec::with_capacity(sent.len());
    for (at, seq) in sent {
        let i = seen.partition_point(|(_, low)| *low < seq);
        let Some((visible, _)) = seen.get(i) else {
            bail!("sequence {seq} was never seen applied on both nodes");
        };
        lags.push(visible.saturating_duration_since(at));
    }
    Ok(lags)
}

/// Reads the whole stream with an ordered consumer, keeping the payloads
/// (for the in-process apply split).
async fn raw_read(
    js: &jetstream::Context,
    last: u64,
) -> anyhow::Result<(Duration, Vec<(u64, Bytes)>)> {
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let mut payloads = Vec::with_capacity(last as usize);
    let started = Instant::now();
    let consumer = stream.create_consumer(events_replay()).await?;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        let seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        payloads.push((seq, msg.payload.clone()));
        if seq >= last {
            break;
        }
    }
    Ok((started.elapsed(), payloads))
}

/// Runs `pagefeed-projector rebuild` into `data`; (wall time, peak RSS KiB).
async fn rebuild(
    bins: &Binaries,
    config: &Path,
    data: &PathBuf,
) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut child = Command::new(&bins.projector)
        .arg("rebuild")
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .args(["--node", "r"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Ok(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            let elapsed = started.elapsed();
            anyhow::ensure!(status.success(), "rebuild exited with {status}");
            return Ok((elapsed, peak));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `pagefeed-bench apply` options: the in-process apply alone, no NATS, for
/// profiling (`perf record`, `valgrind --tool=callgrind`).
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyOptions {
    /// Entry events generated and applied.
    #[arg(long, default_value_t = 300_000, value_name = "N")]
    pub events: usize,
    /// Leave the search index out.
    #[arg(long)]
    pub no_index: bool,
    /// Events per write transaction (a live node's batches are at most
    /// 5,000; `rebuild`'s 10,000).
    #[arg(long, default_value_t = APPLY_BATCH, value_name = "N")]
    pub batch: usize,
    /// Write the file into this directory and keep it (a node's `--data`),
    /// instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// Applies `options.events` generated entry events in-process to a fresh
/// file, [`APPLY_BATCH`] per transaction, and prints the rate.
pub fn apply_only(options: ApplyOptions) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("pagefeed-bench-apply-")
        .tempdir()?;
    let dir = options.data.as_deref().unwrap_or(temp.path());
    let payloads: Vec<(u64, Bytes)> = entry_events(options.events, 0)
        .into_iter()
        .zip(1..)
        .map(|(m, seq)| (seq, m.payload))
        .collect();
    let t = apply_in_process(&payloads, dir, !options.no_index, options.batch.max(1))?;
    println!(
        "applied {} entry events in {:.2} s: {:.0} events/s ({} the search index)",
        payloads.len(),
        t.as_secs_f64(),
        payloads.len() as f64 / t.as_secs_f64(),
        if options.no_index { "without" } else { "with" }
    );
    Ok(())
}

fn apply_in_process(
    payloads: &[(u64, Bytes)],
    dir: &Path,
    index: bool,
    batch: usize,
) -> anyhow::Result<Duration> {
    std::fs::create_dir_all(dir)?;
    let store = Store::open(&dir.join("pagefeed.redb"))?;
    let store = if index {
        store
    } else {
        store.without_search_index()
    };
    let started = Instant::now();
    // Stored "now", after every time the events claim (as in a live stream).
    let published = chrono::Utc::now();
    for chunk in payloads.chunks(batch) {
        let batch: Vec<Logged> = chunk
            .iter()
            .map(|(seq, payload)| Logged {
                seq: *seq,
                published,
                payload,
            })
            .collect();
        store.apply_batch(&batch)?;
    }
    Ok(started.elapsed())
}

fn percentiles(d: &mut [Duration]) -> (Duration, Duration) {
    if d.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    d.sort_unstable();
    let at = |p: f64| d[((d.len() as f64 * p).ceil() as usize).clamp(1, d.len()) - 1];
    (at(0.50), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn verdict(met: bool) -> String {
    if met { "met" } else { "missed" }.to_owned()
}

/// The printed report: a markdown table ready for docs/BENCHMARKS.md.
struct Report {
    head: String,
    rows: Vec<[String; 4]>,
}

impl Report {
    fn new(machine: &Machine, options: &Options) -> Report {
        Report {
            head: format!(
                "\npagefeed projector benchmark, {}\nmachine: {} cores, {}; no pinning\n{} entry events, {} searches, lag run {} events/s for {} s\n",
                chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
                machine.cores,
                machine.cpu_model,
                options.events,
                options.searches,
                options.lag_rate,
                options.lag_seconds
            ),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, what: &str, value: String, target: &str, verdict: String) {
        eprintln!("  {what}: {value}");
        self.rows
            .push([what.to_owned(), value, target.to_owned(), verdict]);
    }

    fn render(&self) -> String {
        let mut out = self.head.clone();
        out.push_str("\n| figure | value | target | verdict |\n|---|---|---|---|\n");
        for [a, b, c, d] in &self.rows {
            out.push_str(&format!("| {a} | {b} | {c} | {d} |\n"));
        }
        out
    }
}
