//! The ceiling of live replication, measured in the same run: the run's
//! events published with two "null nodes" instead of projectors, each a
//! process (`pagefeed-bench null-node`) that reads the stream through the
//! projector's own consumer definition and pull size, and applies nothing.
//! What they reach is what nats-server and the publisher leave possible on
//! this machine before any apply (docs/BENCHMARKS.md, "Projector").

use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull;
use futures::StreamExt as _;
use pagefeed_events::publish::Outgoing;
use pagefeed_events::streams::projector_consumer;
use pagefeed_events::subject::EVENTS_STREAM;
use pagefeed_projector::batch::{pull_bytes, MAX_BATCH};

use super::{Bench, CpuUse};
use crate::procs::{cpu_time, Child};
use crate::publish::publish;

/// How a null node reports its CPU time (seconds) as it exits.
const CPU_LINE: &str = "cpu_seconds ";

/// `pagefeed-bench null-node` arguments (spawned by the projector benchmark).
#[derive(Debug, Clone, clap::Args)]
pub struct NullNodeOptions {
    /// The nats-server to read from.
    #[arg(long)]
    pub url: String,
    /// The node name (its consumer is `projector-<node>`).
    #[arg(long)]
    pub node: String,
    /// Read until this stream sequence, then exit.
    #[arg(long)]
    pub last: u64,
}

impl Bench {
    /// Step 0b: nodes `null-a` and `null-b` started, then `messages`
    /// published; the time until both have read them all. The stream is
    /// deleted and re-created afterwards. The rate, in events/s.
    pub(super) async fn null_node_ceiling(&mut self, messages: &[Outgoing]) -> anyhow::Result<f64> {
        let last = messages.len() as u64;
        let url = self.nats_url.clone();
        let exe = std::env::current_exe()?;
        let mut nodes = Vec::new();
        for name in ["null-a", "null-b"] {
            let mut cmd = Command::new(&exe);
            cmd.args(["null-node", "--url", &url, "--node", name, "--last"])
                .arg(last.to_string());
            nodes.push(Child::spawn(
                name,
                cmd,
                self.dir.path().join(format!("{name}.log")),
                false,
            )?);
        }
        // Both consumers exist once their nodes have created them.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = self.js.get_stream(EVENTS_STREAM).await?;
        while stream.info().await?.state.consumer_count < 2 {
            for node in &mut nodes {
                node.check_running()?;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the null nodes did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "publishing {} events with two null nodes running ...",
            messages.len()
        );
        let cpu = CpuUse::start(self.nats_pid, &[]);
        let started = Instant::now();
        publish(&self.js, messages).await?;
        for node in &mut nodes {
            loop {
                match node.try_wait()? {
                    Some(status) => {
                        anyhow::ensure!(status.success(), "a null node exited with {status}");
                        break;
                    }
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(1800),
                    "the null nodes did not read everything"
                );
            }
        }
        let took = started.elapsed();
        let mut reported = Vec::new();
        for (name, node) in ["null-a", "null-b"].iter().zip(&nodes) {
            let log = std::fs::read_to_string(node.log())?;
            let seconds = log
                .lines()
                .find_map(|l| l.strip_prefix(CPU_LINE))
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            reported.push((
                (*name).to_owned(),
                Duration::from_secs_f64(seconds.max(0.0)),
            ));
        }
        let rate = messages.len() as f64 / took.as_secs_f64();
        self.figures.row(
            "two null nodes, reading and applying nothing (the limit of live replication)",
            format!("{rate:.0} events/s ({:.1} s)", took.as_secs_f64()),
            "—",
            "",
        );
        self.figures.row(
            "CPU time during the null nodes' run",
            cpu.finish(&reported, self.cores),
            "—",
            "",
        );
        self.js.delete_stream(EVENTS_STREAM).await?;
        pagefeed_events::streams::ensure_streams(&self.js, &self.cfg).await?;
        Ok(rate)
    }
}

/// A null node: reads the stream through the projector's consumer
/// definition, with the projector's pull size, up to `last`, applying
/// nothing.
pub async fn null_node(options: NullNodeOptions) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let js = pagefeed_testkit::streams::jetstream_at(&options.url).await?;
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let consumer = stream
        .create_consumer(projector_consumer(
            &options.node,
            0,
            Duration::from_secs(600),
        ))
        .await?;
    let consumer: async_nats::jetstream::consumer::Consumer<pull::Config> = consumer;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(MAX_BATCH)
        .max_bytes_per_batch(pull_bytes(js.client().server_info().max_payload))
        .messages()
        .await?;
    let mut read = 0u64;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        read += 1;
        let seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        if seq >= options.last {
            let cpu = cpu_time(std::process::id())?;
            println!("{CPU_LINE}{:.3}", cpu.as_secs_f64());
            return Ok(());
        }
    }
    anyhow::bail!("the stream ended after {read} messages")
}
