//! Replication: publishing alone (its limit), live replication on two
//! nodes against it, and the end-to-end lag at a steady rate.

use std::time::{Duration, Instant};

use anyhow::bail;
use pagefeed_events::publish::Outgoing;
use pagefeed_events::subject::EVENTS_STREAM;
use tokio_util::sync::CancellationToken;

use super::events::entry_events;
use super::nodes::{applied, commits, get_json, wait_applied, wait_status, Node};
use super::{Bench, CpuUse, Options};
use crate::publish::publish;
use crate::report::{kib_to_mb, mb, millis, ms, percentiles, verdict, Limit};

/// Live replication's target, as a share of what two null nodes reach in
/// the same run (issue 17).
const LIVE_VS_CEILING_TARGET: f64 = 0.9;
/// End-to-end lag's target at p99, in ms.
const LAG_P99_TARGET_MS: f64 = 100.0;
/// A live node's peak RSS, in MB.
const NODE_RSS_TARGET_MB: f64 = 200.0;

impl Bench {
    /// Step 0, the limit of live replication: `messages` published with no
    /// node running, into a stream deleted and re-created afterwards; the
    /// rate, in events/s.
    pub(super) async fn publish_alone(&mut self, messages: &[Outgoing]) -> anyhow::Result<f64> {
        eprintln!(
            "publishing {} events with no node running ...",
            messages.len()
        );
        let alone = publish(&self.js, messages).await?;
        let alone_rate = messages.len() as f64 / alone.as_secs_f64();
        self.figures.row(
            "publish alone, no node running (the limit of live replication)",
            format!("{alone_rate:.0} events/s ({:.1} s)", alone.as_secs_f64()),
            "—",
            "",
        );
        self.js.delete_stream(EVENTS_STREAM).await?;
        pagefeed_events::streams::ensure_streams(&self.js, &self.cfg).await?;
        Ok(alone_rate)
    }

    /// Step 1: nodes `a` and `b` started, then `messages` published; the
    /// time until each node has applied them all, against `alone_rate` and
    /// against `ceiling` (two null nodes, step 0b).
    pub(super) async fn live_replication(
        &mut self,
        messages: &[Outgoing],
        alone_rate: f64,
        ceiling: f64,
    ) -> anyhow::Result<Vec<Node>> {
        let mut nodes = Vec::new();
        for name in ["a", "b"] {
            nodes.push(Node::start(
                &self.bins,
                &self.config,
                self.dir.path(),
                name,
            )?);
        }
        for node in &nodes {
            wait_status(&self.http, &node.http, Duration::from_secs(30)).await?;
        }
        eprintln!(
            "publishing {} events with nodes a and b running ...",
            messages.len()
        );
        let pids: Vec<(&str, u32)> = ["node a", "node b"]
            .into_iter()
            .zip(nodes.iter().map(Node::pid))
            .collect();
        let cpu = CpuUse::start(self.nats_pid, &pids);
        let started = Instant::now();
        let publish_time = publish(&self.js, messages).await?;
        let last = pagefeed_testkit::streams::events_last_seq(&self.js).await?;
        let mut visible = Vec::new();
        for node in &nodes {
            let at = wait_applied(&self.http, &node.http, last, Duration::from_secs(1800)).await?;
            visible.push(at.duration_since(started));
        }
        let cpu = cpu.finish(&[], self.cores);
        let n = messages.len() as f64;
        self.figures.row(
            "publish (JetStream acked)",
            format!("{:.0} events/s", n / publish_time.as_secs_f64()),
            "—",
            "",
        );
        for (node, t) in ["a", "b"].iter().zip(&visible) {
            let rate = n / t.as_secs_f64();
            self.figures.row(
                format!("live replication, node {node} (publish start → all applied)"),
                format!(
                    "{rate:.0} entries/s ({:.1} s, {:.2} of publishing alone)",
                    t.as_secs_f64(),
                    rate / alone_rate
                ),
                "—",
                "",
            );
            self.figures.row(
                format!("live replication, node {node} / two null nodes"),
                format!("{:.2}", rate / ceiling),
                format!("≥ {LIVE_VS_CEILING_TARGET}"),
                verdict(rate / ceiling, Limit::AtLeast(LIVE_VS_CEILING_TARGET)),
            );
        }
        self.figures
            .row("CPU time during live replication", cpu, "—", "");
        for (name, node) in ["a", "b"].iter().zip(&nodes) {
            let (seconds, batches, events) = commits(&self.http, &node.http).await?;
            self.figures.row(
                format!("node {name}'s batches during live replication"),
                format!(
                    "{batches:.0}, {:.0} events and {:.1} ms each on average",
                    events / batches.max(1.0),
                    seconds / batches.max(1.0) * 1000.0
                ),
                "—",
                "",
            );
            let status = get_json(&self.http, &format!("{}/api/status", node.http)).await?;
            anyhow::ensure!(
                status["entries"].as_u64() == Some(messages.len() as u64),
                "node status: {status}"
            );
        }
        Ok(nodes)
    }

    /// Step 3: the lag at a steady rate, publish → visible on both nodes,
    /// and node a's commits meanwhile.
    pub(super) async fn lag(&mut self, nodes: &[Node], options: &Options) -> anyhow::Result<()> {
        eprintln!(
            "lag at {} events/s for {} s ...",
            options.lag_rate, options.lag_seconds
        );
        let before = commits(&self.http, &nodes[0].http).await?;
        let mut lag = lag_run(&self.js, &self.http, nodes, options).await?;
        let after = commits(&self.http, &nodes[0].http).await?;
        let events = lag.len();
        let (p50, p99) = percentiles(&mut lag);
        self.figures.row(
            format!(
                "end-to-end lag at {} events/s, publish → visible on both nodes ({events} events)",
                options.lag_rate,
            ),
            format!("p50 {} / p99 {}", ms(p50), ms(p99)),
            format!("p99 < {LAG_P99_TARGET_MS:.0} ms"),
            verdict(millis(p99), Limit::Below(LAG_P99_TARGET_MS)),
        );
        let batches = (after.1 - before.1).max(1.0);
        self.figures.row(
            "node a's commits during the lag run",
            format!(
                "{batches:.0} batches, {:.1} events and {:.1} ms each on average",
                (after.2 - before.2) / batches,
                (after.0 - before.0) / batches * 1000.0
            ),
            "—",
            "",
        );
        Ok(())
    }

    /// Stops the live nodes, reporting their peak RSS.
    pub(super) fn stop_nodes(&mut self, nodes: Vec<Node>) -> anyhow::Result<()> {
        let mut rss = Vec::new();
        for node in nodes {
            rss.push(node.stop()?);
        }
        let highest = rss.iter().copied().max().unwrap_or(0);
        self.figures.row(
            "peak RSS of the live nodes a / b",
            format!("{} / {}", mb(rss[0]), mb(rss[1])),
            format!("< {NODE_RSS_TARGET_MB:.0} MB"),
            verdict(kib_to_mb(highest), Limit::Below(NODE_RSS_TARGET_MB)),
        );
        Ok(())
    }
}

/// Publishes at `lag_rate` for `lag_seconds` while polling both nodes'
/// applied sequence; returns each event's publish → visible-on-both time.
async fn lag_run(
    js: &async_nats::jetstream::Context,
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
