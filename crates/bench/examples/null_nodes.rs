//! The ceiling of live replication on this machine: the projector
//! benchmark's publish of N entry events with two "null nodes" instead of
//! projectors, each a process that only reads the stream through a durable
//! pull consumer (batches of 5,000) and applies nothing. What it reaches is
//! what nats-server and the publisher leave possible before any apply.
//!
//! ```sh
//! cargo run --release -p pagefeed-bench --example null_nodes -- [N] [all|none] [NODES]
//! ```
//!
//! `all`: the consumers ack one message per 1,000 (`AckPolicy::All`);
//! `none`: they take no acks (`AckPolicy::None`, as the projector's).

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt as _;
use pagefeed_events::publish::{publish_all, Outgoing};
use tokio_util::sync::CancellationToken;

const STREAM: &str = "PAGEFEED_EVENTS";
const SUBJECTS: &str = "pagefeed.events.>";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("node") {
        let [_, _, url, name, acks, last] = args.as_slice() else {
            anyhow::bail!("usage: null_nodes node URL NAME all|none LAST");
        };
        return null_node(url, name, acks == "all", last.parse()?).await;
    }
    let count: usize = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let acks = args.get(2).cloned().unwrap_or_else(|| "all".to_owned());
    let nodes: usize = args.get(3).map_or(Ok(2), |s| s.parse())?;

    let nats = pagefeed_testkit::nats::NatsServer::start().await?;
    let js = pagefeed_testkit::streams::jetstream_at(&nats.url()).await?;
    let stream = || jetstream::stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![SUBJECTS.to_owned()],
        ..Default::default()
    };
    let messages = pagefeed_bench::projector::entry_events(count, 0);

    js.create_stream(stream()).await?;
    let alone = publish(&js, &messages).await?;
    js.delete_stream(STREAM).await?;
    js.create_stream(stream()).await?;

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for i in 0..nodes {
        children.push(
            std::process::Command::new(&exe)
                .args(["node", &nats.url(), &format!("null-{i}"), &acks])
                .arg(count.to_string())
                .spawn()?,
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let published = publish(&js, &messages).await?;
    for child in &mut children {
        anyhow::ensure!(child.wait()?.success(), "a null node failed");
    }
    let all = started.elapsed();
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!(
        "publish alone {:.0} events/s; with {nodes} null nodes (acks: {acks}): \
         publish {:.0} events/s, all read by every node {:.0} events/s ({:.2} of alone)",
        rate(alone),
        rate(published),
        rate(all),
        rate(all) / rate(alone)
    );
    Ok(())
}

/// Publishes as the projector benchmark does; the time taken.
async fn publish(js: &jetstream::Context, messages: &[Outgoing]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let mut acks = futures::stream::iter(messages.chunks(1_000))
        .map(|chunk| publish_all(js, chunk, &cancel))
        .buffer_unordered(4);
    while let Some(acked) = acks.next().await {
        acked?;
    }
    Ok(started.elapsed())
}

/// Reads the stream up to `last` through a durable pull consumer.
async fn null_node(url: &str, name: &str, acks: bool, last: u64) -> anyhow::Result<()> {
    let js = pagefeed_testkit::streams::jetstream_at(url).await?;
    let consumer = js
        .get_stream(STREAM)
        .await?
        .create_consumer(pull::Config {
            durable_name: Some(name.to_owned()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: if acks {
                AckPolicy::All
            } else {
                AckPolicy::None
            },
            max_ack_pending: 100_000,
            filter_subject: SUBJECTS.to_owned(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(5_000)
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
        if acks && (read.is_multiple_of(1_000) || seq >= last) {
            msg.ack_with(AckKind::Ack)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if seq >= last {
            return Ok(());
        }
    }
    anyhow::bail!("the stream ended after {read} messages")
}
